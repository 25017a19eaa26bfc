package mysql

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding/charmap"
)

// Column types of the binlog (enum_field_types).
const (
	tDecimal    = 0
	tTiny       = 1
	tShort      = 2
	tLong       = 3
	tFloat      = 4
	tDouble     = 5
	tNull       = 6
	tTimestamp  = 7
	tLongLong   = 8
	tInt24      = 9
	tDate       = 10
	tTime       = 11
	tDatetime   = 12
	tYear       = 13
	tNewDate    = 14
	tVarchar    = 15
	tBit        = 16
	tTimestamp2 = 17
	tDatetime2  = 18
	tTime2      = 19
	tJSON       = 245
	tNewDecimal = 246
	tEnum       = 247
	tSet        = 248
	tTinyBlob   = 249
	tMediumBlob = 250
	tLongBlob   = 251
	tBlob       = 252
	tVarString  = 253
	tString     = 254
	tGeometry   = 255
)

// decoder turns one binlog cell into its JSON value.
type decoder struct {
	numericNumber bool // decimals as JSON numbers rather than text
}

// cell decodes the value of column col at the start of b and returns it and
// the bytes it took.
func (d decoder) cell(typ byte, meta uint16, col *column, b []byte) (any, int, error) {
	need := func(n int) error {
		if len(b) < n {
			return fmt.Errorf("%w: column %s needs %d bytes, %d left", errMalformed, col.Name, n, len(b))
		}
		return nil
	}
	fixedInt := func(n int) (any, int, error) {
		if err := need(n); err != nil {
			return nil, 0, err
		}
		var u uint64
		for i := n - 1; i >= 0; i-- {
			u = u<<8 | uint64(b[i])
		}
		if col.Unsigned {
			return u, n, nil
		}
		shift := 64 - 8*uint(n)
		return int64(u<<shift) >> shift, n, nil
	}
	switch typ {
	case tTiny:
		return fixedInt(1)
	case tShort:
		return fixedInt(2)
	case tInt24:
		return fixedInt(3)
	case tLong:
		return fixedInt(4)
	case tLongLong:
		return fixedInt(8)
	case tYear:
		if err := need(1); err != nil {
			return nil, 0, err
		}
		if b[0] == 0 {
			return int64(0), 1, nil
		}
		return int64(b[0]) + 1900, 1, nil
	case tFloat:
		if err := need(4); err != nil {
			return nil, 0, err
		}
		return finite(float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))), 4, nil
	case tDouble:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		return finite(math.Float64frombits(binary.LittleEndian.Uint64(b))), 8, nil
	case tNewDecimal:
		s, n, err := decimal(b, int(meta>>8), int(meta&0xff))
		if err != nil {
			return nil, 0, fmt.Errorf("column %s: %w", col.Name, err)
		}
		if d.numericNumber {
			return json.Number(s), n, nil
		}
		return s, n, nil
	case tBit:
		nbytes := int(meta&0xff) + btoi(meta>>8 > 0)
		if err := need(nbytes); err != nil {
			return nil, 0, err
		}
		var u uint64
		for _, c := range b[:nbytes] {
			u = u<<8 | uint64(c)
		}
		return u, nbytes, nil
	case tDate, tNewDate:
		if err := need(3); err != nil {
			return nil, 0, err
		}
		v := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
		return fmt.Sprintf("%04d-%02d-%02d", v>>9, (v>>5)&15, v&31), 3, nil
	case tTimestamp:
		if err := need(4); err != nil {
			return nil, 0, err
		}
		return time.Unix(int64(binary.LittleEndian.Uint32(b)), 0).UTC().Format(time.RFC3339), 4, nil
	case tTimestamp2:
		fb := fracBytes(meta)
		if err := need(4 + fb); err != nil {
			return nil, 0, err
		}
		sec := int64(binary.BigEndian.Uint32(b))
		us := frac(b[4:4+fb], meta)
		return time.Unix(sec, us*1000).UTC().Format(time.RFC3339Nano), 4 + fb, nil
	case tDatetime:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		v := binary.LittleEndian.Uint64(b)
		d, t := v/1000000, v%1000000
		return fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", d/10000, d/100%100, d%100, t/10000, t/100%100, t%100), 8, nil
	case tDatetime2:
		fb := fracBytes(meta)
		if err := need(5 + fb); err != nil {
			return nil, 0, err
		}
		v := int64(uint64(b[0])<<32|uint64(binary.BigEndian.Uint32(b[1:]))) - 0x8000000000
		ymd, hms := v>>17, v&0x1ffff
		ym := ymd >> 5
		s := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", ym/13, ym%13, ymd&31, hms>>12, (hms>>6)&63, hms&63)
		return s + fracText(frac(b[5:5+fb], meta), meta) + "Z", 5 + fb, nil
	case tTime:
		if err := need(3); err != nil {
			return nil, 0, err
		}
		v := int32(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16) << 8 >> 8
		sign := ""
		if v < 0 {
			sign, v = "-", -v
		}
		return fmt.Sprintf("%s%02d:%02d:%02d", sign, v/10000, v/100%100, v%100), 3, nil
	case tTime2:
		fb := fracBytes(meta)
		if err := need(3 + fb); err != nil {
			return nil, 0, err
		}
		var u int64
		for _, c := range b[:3+fb] {
			u = u<<8 | int64(c)
		}
		v := u - int64(0x800000)<<(8*fb)
		sign := ""
		if v < 0 {
			sign, v = "-", -v
		}
		ip, fp := v>>(8*fb), v&(1<<(8*fb)-1)
		us := frac(beBytes(fp, fb), meta)
		return fmt.Sprintf("%s%02d:%02d:%02d", sign, (ip>>12)&0x3ff, (ip>>6)&63, ip&63) + fracText(us, meta), 3 + fb, nil
	case tVarchar, tVarString:
		lb := 1
		if meta > 255 {
			lb = 2
		}
		return d.bytesCell(b, lb, col)
	case tString:
		real, length := byte(meta>>8), int(meta&0xff)
		if real&0x30 != 0x30 { // lengths over 255 borrow two bits of the type
			length |= int((real&0x30)^0x30) << 4
			real |= 0x30
		}
		switch real {
		case tEnum:
			n := length
			v, _, err := fixedUnsigned(b, n)
			if err != nil {
				return nil, 0, err
			}
			return col.enumText(v), n, nil
		case tSet:
			v, _, err := fixedUnsigned(b, length)
			if err != nil {
				return nil, 0, err
			}
			return col.setText(v), length, nil
		}
		lb := 1
		if length > 255 {
			lb = 2
		}
		return d.bytesCell(b, lb, col)
	case tBlob, tGeometry, tJSON, tTinyBlob, tMediumBlob, tLongBlob:
		return d.bytesCell(b, int(meta), col)
	case tEnum:
		v, n, err := fixedUnsigned(b, int(meta&0xff))
		if err != nil {
			return nil, 0, err
		}
		return col.enumText(v), n, nil
	case tSet:
		v, n, err := fixedUnsigned(b, int(meta&0xff))
		if err != nil {
			return nil, 0, err
		}
		return col.setText(v), n, nil
	}
	return nil, 0, fmt.Errorf("mysql: column %s has binlog type %d, which weir does not decode", col.Name, typ)
}

// bytesCell reads a length-prefixed value and maps it by the column's SQL
// type: text as a string, json as nested JSON, binary as base64.
func (d decoder) bytesCell(b []byte, lenBytes int, col *column) (any, int, error) {
	if lenBytes < 1 || lenBytes > 4 {
		return nil, 0, fmt.Errorf("%w: column %s length of %d bytes", errMalformed, col.Name, lenBytes)
	}
	n, _, err := fixedUnsigned(b, lenBytes)
	if err != nil {
		return nil, 0, err
	}
	if uint64(len(b)-lenBytes) < n {
		return nil, 0, fmt.Errorf("%w: column %s value of %d bytes, %d left", errMalformed, col.Name, n, len(b)-lenBytes)
	}
	v := b[lenBytes : lenBytes+int(n)]
	return col.bytesValue(v), lenBytes + int(n), nil
}

// bytesValue maps a string or binary cell by the column's kind.
func (c *column) bytesValue(v []byte) any {
	switch {
	case c.JSON:
		if json.Valid(v) {
			return json.RawMessage(append([]byte{}, v...))
		}
		return string(v)
	case c.Binary:
		return base64.StdEncoding.EncodeToString(v)
	case c.Latin1:
		if s, err := charmap.Windows1252.NewDecoder().Bytes(v); err == nil {
			return string(s)
		}
	}
	return string(v)
}

func fixedUnsigned(b []byte, n int) (uint64, int, error) {
	if n < 1 || n > 8 || len(b) < n {
		return 0, 0, errMalformed
	}
	var u uint64
	for i := n - 1; i >= 0; i-- {
		u = u<<8 | uint64(b[i])
	}
	return u, n, nil
}

func (c *column) enumText(i uint64) string {
	if i == 0 || int(i) > len(c.Elems) {
		return ""
	}
	return c.Elems[i-1]
}

func (c *column) setText(bits uint64) string {
	var parts []string
	for i, e := range c.Elems {
		if i < 64 && bits&(1<<i) != 0 {
			parts = append(parts, e)
		}
	}
	return strings.Join(parts, ",")
}

// finite keeps NaN and infinities (which JSON cannot carry) out as null.
func finite(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func fracBytes(fsp uint16) int { return (int(fsp) + 1) / 2 }

// frac reads a temporal fraction as microseconds.
func frac(b []byte, fsp uint16) int64 {
	var v int64
	for _, c := range b {
		v = v<<8 | int64(c)
	}
	switch fracBytes(fsp) {
	case 1:
		return v * 10000
	case 2:
		return v * 100
	}
	return v
}

func fracText(us int64, fsp uint16) string {
	if fsp == 0 {
		return ""
	}
	return "." + fmt.Sprintf("%06d", us)[:fsp]
}

func beBytes(v int64, n int) []byte {
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i], v = byte(v), v>>8
	}
	return b
}

var dig2bytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

// decimal decodes MySQL's binary DECIMAL(precision, scale) to its text.
func decimal(b []byte, precision, scale int) (string, int, error) {
	if precision < 1 || precision > 65 || scale < 0 || scale > precision {
		return "", 0, fmt.Errorf("%w: decimal(%d,%d)", errMalformed, precision, scale)
	}
	intg := precision - scale
	intg0, intgx := intg/9, intg%9
	frac0, fracx := scale/9, scale%9
	size := intg0*4 + dig2bytes[intgx] + frac0*4 + dig2bytes[fracx]
	if len(b) < size {
		return "", 0, errMalformed
	}
	buf := append([]byte{}, b[:size]...)
	neg := buf[0]&0x80 == 0
	buf[0] ^= 0x80
	if neg {
		for i := range buf {
			buf[i] ^= 0xff
		}
	}
	read := func(n int) uint64 {
		var v uint64
		for _, c := range buf[:n] {
			v = v<<8 | uint64(c)
		}
		buf = buf[n:]
		return v
	}
	var s strings.Builder
	if neg {
		s.WriteByte('-')
	}
	var ip strings.Builder
	if intgx > 0 {
		ip.WriteString(strconv.FormatUint(read(dig2bytes[intgx]), 10))
	}
	for range intg0 {
		fmt.Fprintf(&ip, "%09d", read(4))
	}
	is := strings.TrimLeft(ip.String(), "0")
	if is == "" {
		is = "0"
	}
	s.WriteString(is)
	if scale > 0 {
		s.WriteByte('.')
		for range frac0 {
			fmt.Fprintf(&s, "%09d", read(4))
		}
		if fracx > 0 {
			fmt.Fprintf(&s, "%0*d", fracx, read(dig2bytes[fracx]))
		}
	}
	out := s.String()
	if out == "-0" || (neg && strings.Trim(out[1:], "0.") == "") {
		out = out[1:]
	}
	return out, size, nil
}

package postgres

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// typeNames names the built-in types by OID ("int4", "_text").
var typeNames = func() map[uint32]string {
	m := pgtype.NewMap()
	names := map[uint32]string{}
	for oid := uint32(0); oid < 10000; oid++ {
		if t, ok := m.TypeForOID(oid); ok {
			names[oid] = t.Name
		}
	}
	return names
}()

func typeName(oid uint32) string {
	if n, ok := typeNames[oid]; ok {
		return n
	}
	return strconv.FormatUint(uint64(oid), 10)
}

// decoder turns the text form of a column value, as pgoutput and a text-format
// query send it, into the JSON value Debezium gives it.
type decoder struct {
	m             *pgtype.Map
	numericNumber bool // numeric as a JSON number rather than a string
}

func newDecoder(numericNumber bool) *decoder {
	return &decoder{m: pgtype.NewMap(), numericNumber: numericNumber}
}

// isInteger is true for the types value checks as integers and returns as
// their text (a json.RawMessage).
func isInteger(oid uint32) bool {
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID, pgtype.XIDOID:
		return true
	}
	return false
}

// jsonInteger is true for text that is a JSON integer as it is: an
// optional minus, then 0 or digits without a leading zero.
func jsonInteger(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || (b[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// value decodes one non-null column value.
func (d *decoder) value(oid uint32, raw []byte) (any, error) {
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID, pgtype.XIDOID:
		if _, err := strconv.ParseInt(string(raw), 10, 64); err != nil {
			return nil, fmt.Errorf("integer %q: %w", raw, err)
		}
		if !jsonInteger(raw) { // "+1", "007": not JSON as they are
			return nil, fmt.Errorf("integer %q: not in PostgreSQL's text form", raw)
		}
		return json.RawMessage(raw), nil
	case pgtype.NumericOID:
		return d.numeric(string(raw)), nil
	case pgtype.Float4OID, pgtype.Float8OID:
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return nil, fmt.Errorf("float %q: %w", raw, err)
		}
		return floatValue(f), nil
	case pgtype.BoolOID:
		return len(raw) > 0 && raw[0] == 't', nil
	case pgtype.JSONOID, pgtype.JSONBOID:
		// Compact and HTML-escaped, as encoding/json writes JSON: the row
		// that holds it is then final as it is (cdc.Value.Compact).
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return nil, fmt.Errorf("invalid json")
		}
		if !bytes.ContainsAny(compact.Bytes(), "<>&\u2028\u2029") {
			return json.RawMessage(compact.Bytes()), nil
		}
		var escaped bytes.Buffer
		json.HTMLEscape(&escaped, compact.Bytes())
		return json.RawMessage(escaped.Bytes()), nil
	case pgtype.ByteaOID:
		if !bytes.HasPrefix(raw, []byte(`\x`)) {
			return nil, fmt.Errorf("bytea not in hex form")
		}
		b := make([]byte, hex.DecodedLen(len(raw)-2))
		if _, err := hex.Decode(b, raw[2:]); err != nil {
			return nil, fmt.Errorf("bytea: %w", err)
		}
		return base64.StdEncoding.EncodeToString(b), nil
	case pgtype.TimestampOID, pgtype.TimestamptzOID:
		t, ok := d.m.TypeForOID(oid)
		if !ok {
			return string(raw), nil
		}
		v, err := t.Codec.DecodeValue(d.m, oid, pgtype.TextFormatCode, raw)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", t.Name, raw, err)
		}
		return d.convert(oid, v), nil
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.QCharOID,
		pgtype.UUIDOID, pgtype.DateOID, pgtype.TimeOID, pgtype.TimetzOID, pgtype.IntervalOID:
		return string(raw), nil
	}
	t, ok := d.m.TypeForOID(oid)
	if !ok {
		return string(raw), nil // enums, domains and other types weir does not know: their text
	}
	if ac, ok := t.Codec.(*pgtype.ArrayCodec); ok {
		v, err := ac.DecodeValue(d.m, oid, pgtype.TextFormatCode, raw)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", t.Name, raw, err)
		}
		return d.convert(ac.ElementType.OID, v), nil
	}
	return string(raw), nil
}

func (d *decoder) numeric(s string) any {
	if !d.numericNumber || s == "NaN" || s == "Infinity" || s == "-Infinity" || !json.Valid([]byte(s)) {
		return s
	}
	return json.RawMessage(s)
}

func floatValue(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

// convert maps a value pgtype decoded (an array's elements, a timestamp)
// to its JSON form; oid is the value's (or the array element's) type.
func (d *decoder) convert(oid uint32, v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = d.convert(oid, e)
		}
		return out
	case float32:
		return floatValue(float64(v))
	case float64:
		return floatValue(v)
	case time.Time:
		switch oid {
		case pgtype.TimestamptzOID:
			return v.UTC().Format("2006-01-02T15:04:05.999999Z")
		case pgtype.DateOID:
			return v.Format("2006-01-02")
		}
		return v.Format("2006-01-02T15:04:05.999999")
	case pgtype.InfinityModifier:
		if v == pgtype.Infinity {
			return "infinity"
		}
		return "-infinity"
	case pgtype.Numeric:
		b, err := v.MarshalJSON()
		if err != nil {
			return nil
		}
		return d.numeric(string(b))
	case pgtype.Time:
		us := v.Microseconds
		s := fmt.Sprintf("%02d:%02d:%02d", us/3600e6, us/60e6%60, us/1e6%60)
		if f := us % 1e6; f != 0 {
			s += "." + trimZeros(fmt.Sprintf("%06d", f))
		}
		return s
	case [16]byte:
		u := pgtype.UUID{Bytes: v, Valid: true}
		b, _ := u.MarshalJSON()
		var s string
		_ = json.Unmarshal(b, &s)
		return s
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	}
	return v
}

func trimZeros(s string) string {
	for len(s) > 1 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return s
}

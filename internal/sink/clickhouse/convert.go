package clickhouse

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// DateTime is seconds since the epoch in a UInt32, and Date is days since the
// epoch in a UInt16: these are the instants each can hold. ClickHouse 18.16
// does not check them on insert; it wraps a value around, so weir checks.
const (
	maxDateTime = math.MaxUint32
	maxDateDays = math.MaxUint16
)

// maxNumberLen bounds the text of a number converted to an integer or a
// Decimal: no column holds more than 40 digits, and parsing a longer text
// costs more than it can be worth.
const maxNumberLen = 64

// epoch is the default of DateTime and Date columns.
var epoch = time.Unix(0, 0).UTC()

// convert turns the value a pointer found (or its absence) into what the
// column's type takes. An absent value or JSON null is the column's default
// (NULL for a Nullable column) and is not counted; a value present but not
// convertible is also the default, and defaulted says so, for counting.
func (c colType) convert(v any, present bool) (out any, defaulted bool) {
	if !present || v == nil {
		return c.zero(), false
	}
	out, ok := c.base(v)
	if !ok {
		return c.zero(), true
	}
	return out, false
}

// zero is the column's default: NULL for a Nullable column, else the zero
// value of its type.
func (c colType) zero() any {
	if c.nullable {
		return nil
	}
	switch c.kind {
	case kindString:
		return ""
	case kindInt:
		return intOf(c.bits, 0)
	case kindUint:
		return uintOf(c.bits, 0)
	case kindFloat32:
		return float32(0)
	case kindFloat64:
		return float64(0)
	case kindDecimal:
		return decimal.Zero
	}
	return epoch
}

// base converts a present, non-null value to the base type's Go value.
func (c colType) base(v any) (any, bool) {
	switch c.kind {
	case kindString:
		return toString(v)
	case kindInt, kindUint:
		return c.toInteger(v)
	case kindFloat32, kindFloat64:
		return c.toFloat(v)
	case kindDecimal:
		return c.toDecimal(v)
	case kindDateTime:
		return toDateTime(v)
	case kindDate:
		return toDate(v)
	}
	return nil, false
}

// toString keeps a string as it is and writes any other value as JSON.
func toString(v any) (any, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case json.Number:
		return string(s), true
	case bool:
		return strconv.FormatBool(s), true
	}
	b, err := json.Marshal(v)
	return string(b), err == nil
}

// numberText is the text of a JSON number, or of a string that holds one
// (webhooks often send amounts and ids as strings). A bool is 1 or 0.
func numberText(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		return string(n), true
	case string:
		return strings.TrimSpace(n), true
	case bool:
		if n {
			return "1", true
		}
		return "0", true
	}
	return "", false
}

// parseDecimal reads a number exactly. It refuses long texts and exponents
// far outside any column's range before they reach big-integer arithmetic.
func parseDecimal(s string) (decimal.Decimal, bool) {
	if s == "" || len(s) > maxNumberLen {
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(s)
	if err != nil || d.Exponent() < -80 || d.Exponent() > 80 {
		return decimal.Decimal{}, false
	}
	return d, true
}

func (c colType) toInteger(v any) (any, bool) {
	s, ok := numberText(v)
	if !ok {
		return nil, false
	}
	if c.kind == kindInt {
		if n, err := strconv.ParseInt(s, 10, c.bits); err == nil {
			return intOf(c.bits, n), true
		}
	} else if n, err := strconv.ParseUint(s, 10, c.bits); err == nil {
		return uintOf(c.bits, n), true
	}
	// 42.0 and 4.2e1 are integers too.
	d, ok := parseDecimal(s)
	if !ok || !d.IsInteger() {
		return nil, false
	}
	b := d.BigInt()
	if c.kind == kindInt {
		if !b.IsInt64() {
			return nil, false
		}
		n := b.Int64()
		if lim := int64(1) << (c.bits - 1); c.bits < 64 && (n < -lim || n >= lim) {
			return nil, false
		}
		return intOf(c.bits, n), true
	}
	if !b.IsUint64() {
		return nil, false
	}
	n := b.Uint64()
	if c.bits < 64 && n >= uint64(1)<<c.bits {
		return nil, false
	}
	return uintOf(c.bits, n), true
}

func intOf(bits int, n int64) any {
	switch bits {
	case 8:
		return int8(n)
	case 16:
		return int16(n)
	case 32:
		return int32(n)
	}
	return n
}

func uintOf(bits int, n uint64) any {
	switch bits {
	case 8:
		return uint8(n)
	case 16:
		return uint16(n)
	case 32:
		return uint32(n)
	}
	return n
}

func (c colType) toFloat(v any) (any, bool) {
	s, ok := numberText(v)
	if !ok {
		return nil, false
	}
	bits := 64
	if c.kind == kindFloat32 {
		bits = 32
	}
	f, err := strconv.ParseFloat(s, bits)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	if bits == 32 {
		return float32(f), true
	}
	return f, true
}

// toDecimal rounds to the column's scale (half away from zero) and refuses a
// value whose integer part has more digits than the precision leaves: 18.16
// would store it and read back a different number.
func (c colType) toDecimal(v any) (any, bool) {
	s, ok := numberText(v)
	if !ok {
		return nil, false
	}
	d, ok := parseDecimal(s)
	if !ok {
		return nil, false
	}
	d = d.Round(int32(c.scale))
	if d.Abs().Cmp(decimal.New(1, int32(c.prec-c.scale))) >= 0 {
		return nil, false
	}
	return d, true
}

// epochSeconds reads an epoch number: seconds, or milliseconds when the
// number is too large to be seconds a DateTime can hold (after 2106), which
// makes the two unambiguous within DateTime's range.
func epochSeconds(v any) (float64, bool) {
	var s string
	switch n := v.(type) {
	case json.Number:
		s = string(n)
	case string:
		s = strings.TrimSpace(n)
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	if f > maxDateTime {
		f /= 1000
	}
	return f, true
}

// toDateTime reads an RFC 3339 timestamp or an epoch number and refuses an
// instant outside DateTime's range (1970 to 2106). Fractions of a second are
// dropped, as DateTime has none.
func toDateTime(v any) (any, bool) {
	var sec int64
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); err == nil {
			sec = t.Unix()
		} else if f, ok := epochSeconds(v); ok {
			sec = int64(math.Floor(f))
		} else {
			return nil, false
		}
	} else if f, ok := epochSeconds(v); ok {
		sec = int64(math.Floor(f))
	} else {
		return nil, false
	}
	if sec < 0 || sec > maxDateTime {
		return nil, false
	}
	return time.Unix(sec, 0).UTC(), true
}

// toDate reads a date ("2026-03-01"), an RFC 3339 timestamp (its date in
// UTC) or an epoch number, and refuses a day outside Date's range (1970 to
// 2149).
func toDate(v any) (any, bool) {
	var t time.Time
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		if d, err := time.Parse(time.DateOnly, s); err == nil {
			t = d
		} else if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
			t = ts.UTC()
		} else if f, ok := epochSeconds(v); ok && f >= 0 && f <= maxDateTime {
			t = time.Unix(int64(f), 0).UTC()
		} else {
			return nil, false
		}
	} else if f, ok := epochSeconds(v); ok && f >= 0 && f <= maxDateTime {
		t = time.Unix(int64(f), 0).UTC()
	} else {
		return nil, false
	}
	days := t.Unix() / 86400
	if t.Unix() < 0 || days > maxDateDays {
		return nil, false
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), true
}

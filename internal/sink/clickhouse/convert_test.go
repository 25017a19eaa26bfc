package clickhouse

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

func TestParseType(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"String":                  "String",
		" UInt8 ":                 "UInt8",
		"Int64":                   "Int64",
		"Float32":                 "Float32",
		"Decimal(12,2)":           "Decimal(12, 2)",
		"Decimal( 38 , 0 )":       "Decimal(38, 0)",
		"Nullable(Decimal(9, 9))": "Nullable(Decimal(9, 9))",
		"Nullable(DateTime)":      "Nullable(DateTime)",
		"Date":                    "Date",
		"Nullable(String)":        "Nullable(String)",
	} {
		c, err := parseType(in)
		require.NoError(t, err, in)
		require.Equal(t, want, c.String())
	}
	for _, in := range []string{"", "string", "Int128", "Decimal(0,0)", "Decimal(10,11)", "Decimal(39,2)", "Decimal(12)",
		"Nullable(Nullable(String))", "Nullable(String", "Array(String)", "FixedString(3)", "DateTime64(3)", "String, x String"} {
		_, err := parseType(in)
		require.Error(t, err, in)
	}
	require.True(t, sameType("Nullable(DateTime('UTC'))", "Nullable(DateTime)"))
	require.True(t, sameType("Decimal(12, 2)", "Decimal(12,2)"))
	require.False(t, sameType("Decimal(12, 2)", "Decimal(12, 3)"))
}

func TestPointer(t *testing.T) {
	t.Parallel()
	var data any
	require.NoError(t, json.Unmarshal([]byte(`{"a":{"b/c":[10,{"~d":true}]},"":1}`), &data))
	for p, want := range map[string]any{"/a/b~1c/0": 10.0, "/a/b~1c/1/~0d": true, "/": 1.0} {
		ptr, err := parsePointer(p)
		require.NoError(t, err, p)
		v, ok := ptr.lookup(data)
		require.True(t, ok, p)
		require.Equal(t, want, v, p)
	}
	for _, p := range []string{"/x", "/a/b~1c/2", "/a/b~1c/01", "/a/b~1c/-", "/a/b~1c/0/x"} {
		ptr, err := parsePointer(p)
		require.NoError(t, err, p)
		_, ok := ptr.lookup(data)
		require.False(t, ok, p)
	}
	for _, p := range []string{"", "a", "/a~", "/a~2"} {
		_, err := parsePointer(p)
		require.Error(t, err, p)
	}
}

func mustType(t *testing.T, s string) colType {
	c, err := parseType(s)
	require.NoError(t, err)
	return c
}

func TestConvert(t *testing.T) {
	t.Parallel()
	n := func(s string) any { return json.Number(s) }
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		typ  string
		in   any
		want any
	}{
		{"String", "x", "x"},
		{"String", n("1.50"), "1.50"},
		{"String", true, "true"},
		{"String", map[string]any{"a": []any{n("1")}}, `{"a":[1]}`},
		{"UInt8", true, uint8(1)},
		{"UInt8", n("255"), uint8(255)},
		{"Int16", " -7 ", int16(-7)},
		{"Int32", n("4.2e1"), int32(42)},
		{"Int64", n("9223372036854775807"), int64(9223372036854775807)},
		{"UInt64", n("18446744073709551615"), uint64(18446744073709551615)},
		{"Float32", n("1.5"), float32(1.5)},
		{"Float64", "2.25", 2.25},
		{"Decimal(12,2)", n("1234.565"), decimal.RequireFromString("1234.57")},
		{"Decimal(12,2)", "-0.004", decimal.RequireFromString("0")},
		{"Decimal(4,0)", n("9999"), decimal.RequireFromString("9999")},
		{"DateTime", "2026-03-01T12:00:00.9+01:00", time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)},
		{"DateTime", n("1772366400"), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		{"DateTime", n("1772366400123"), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		{"DateTime", "1772366400", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		{"Date", "2026-03-01", day(2026, 3, 1)},
		{"Date", "2026-03-01T23:30:00-02:00", day(2026, 3, 2)},
		{"Date", n("1772366400"), day(2026, 3, 1)},
		{"Nullable(Int32)", n("5"), int32(5)},
	} {
		v, defaulted := mustType(t, c.typ).convert(c.in, true)
		require.False(t, defaulted, "%s %v", c.typ, c.in)
		if d, ok := c.want.(decimal.Decimal); ok {
			require.True(t, d.Equal(v.(decimal.Decimal)), "%s %v: %v", c.typ, c.in, v)
			continue
		}
		require.Equal(t, c.want, v, "%s %v", c.typ, c.in)
	}

	for _, c := range []struct {
		typ string
		in  any
	}{
		{"UInt8", n("256")},
		{"UInt8", n("-1")},
		{"Int8", n("1.5")},
		{"Int64", n("9223372036854775808")},
		{"UInt32", "x"},
		{"UInt32", []any{}},
		{"Int32", n("1e1000000000")},
		{"Float32", n("1e39")},
		{"Float64", "NaN"},
		{"Decimal(12,2)", n("10000000000")},
		{"Decimal(12,2)", n("1e-1000000000")},
		{"Decimal(12,2)", "12,50"},
		{"DateTime", "2026-03-01 12:00"},
		{"DateTime", n("-1")},
		{"DateTime", "1900-01-01T00:00:00Z"},
		{"DateTime", n("5000000000000000")},
		{"Date", "2150-01-01"},
		{"Date", false},
	} {
		typ := mustType(t, c.typ)
		v, defaulted := typ.convert(c.in, true)
		require.True(t, defaulted, "%s %v gave %v", c.typ, c.in, v)
		require.Equal(t, typ.zero(), v)
	}

	// Absent and null are the default without being counted; NULL when Nullable.
	for _, typ := range []string{"String", "Decimal(5,1)", "Date"} {
		v, defaulted := mustType(t, typ).convert(nil, false)
		require.False(t, defaulted)
		require.Equal(t, mustType(t, typ).zero(), v)
		v, defaulted = mustType(t, "Nullable("+typ+")").convert(nil, true)
		require.False(t, defaulted)
		require.Nil(t, v)
	}
	v, defaulted := mustType(t, "Nullable(UInt8)").convert("no", true)
	require.True(t, defaulted)
	require.Nil(t, v)
}

func FuzzParseType(f *testing.F) {
	for _, s := range []string{"String", "Nullable(Decimal(12, 2))", "Decimal(38,38)", "UInt64", "Nullable(", "Decimal(,)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseType(s)
		if err != nil {
			return
		}
		again, err := parseType(c.String())
		if err != nil || again != c {
			t.Fatalf("%q -> %q does not read back: %v", s, c.String(), err)
		}
	})
}

func FuzzPointer(f *testing.F) {
	for _, s := range []string{"/a", "/a/0", "/a~1b/~0", "/", "//", "/a~"} {
		f.Add(s, `{"a":[1,{"b":"c"}],"a/b":{"~":null}}`)
	}
	f.Fuzz(func(t *testing.T, p, data string) {
		ptr, err := parsePointer(p)
		if err != nil {
			return
		}
		v, ok := decodeData([]byte(data))
		if !ok {
			return
		}
		found, ok := ptr.lookup(v)
		if !ok {
			return
		}
		for _, typ := range []string{"String", "Int8", "UInt64", "Float32", "Decimal(12,2)", "Decimal(38,10)", "DateTime", "Nullable(Date)"} {
			c, _ := parseType(typ)
			out, defaulted := c.convert(found, true)
			if defaulted && out != c.zero() && !(c.kind == kindDecimal) {
				t.Fatalf("%s: defaulted to %v, not the zero", typ, out)
			}
		}
	})
}

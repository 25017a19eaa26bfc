package clickhouse

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// kind is the base type of a per-type table's column.
type kind uint8

const (
	kindString kind = iota
	kindInt
	kindUint
	kindFloat32
	kindFloat64
	kindDecimal
	kindDateTime
	kindDate
)

// colType is a ClickHouse column type that a per-type table may map a JSON
// value to. Only these types are accepted: each is one weir converts itself,
// so a value it cannot convert becomes the column's default instead of a
// batch the server refuses.
type colType struct {
	kind     kind
	bits     int // kindInt, kindUint: 8, 16, 32 or 64
	prec     int // kindDecimal
	scale    int // kindDecimal
	nullable bool
}

// maxTypeLen bounds a column type's text: the longest accepted type,
// "Nullable(Decimal(38, 38))", is far shorter.
const maxTypeLen = 64

var errUnsupportedType = errors.New("is not a supported column type; use String, Int8..Int64, UInt8..UInt64, Float32, Float64, Decimal(P, S), DateTime, Date, or Nullable(T) of one of them")

// parseType reads a column type as a sink's config writes it. Spaces inside
// the parentheses are ignored, as ClickHouse does.
func parseType(s string) (colType, error) {
	if len(s) > maxTypeLen {
		return colType{}, fmt.Errorf("is longer than %d characters", maxTypeLen)
	}
	t := strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	var c colType
	if inner, ok := strings.CutPrefix(t, "Nullable("); ok {
		inner, ok = strings.CutSuffix(inner, ")")
		if !ok {
			return colType{}, fmt.Errorf("%q %w", s, errUnsupportedType)
		}
		c.nullable = true
		t = inner
	}
	switch t {
	case "String":
		c.kind = kindString
	case "Int8", "Int16", "Int32", "Int64":
		c.kind, c.bits = kindInt, atoiMust(t[3:])
	case "UInt8", "UInt16", "UInt32", "UInt64":
		c.kind, c.bits = kindUint, atoiMust(t[4:])
	case "Float32":
		c.kind = kindFloat32
	case "Float64":
		c.kind = kindFloat64
	case "DateTime":
		c.kind = kindDateTime
	case "Date":
		c.kind = kindDate
	default:
		args, ok := strings.CutPrefix(t, "Decimal(")
		if !ok {
			return colType{}, fmt.Errorf("%q %w", s, errUnsupportedType)
		}
		args, ok = strings.CutSuffix(args, ")")
		p, sc, ok2 := strings.Cut(args, ",")
		if !ok || !ok2 {
			return colType{}, fmt.Errorf("%q %w", s, errUnsupportedType)
		}
		prec, err1 := strconv.Atoi(p)
		scale, err2 := strconv.Atoi(sc)
		if err1 != nil || err2 != nil || prec < 1 || prec > 38 || scale < 0 || scale > prec {
			return colType{}, fmt.Errorf("%q: a Decimal(P, S) needs 1 <= P <= 38 and 0 <= S <= P", s)
		}
		c.kind, c.prec, c.scale = kindDecimal, prec, scale
	}
	return c, nil
}

func atoiMust(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// String is the type as ClickHouse writes it in system.columns.
func (c colType) String() string {
	var base string
	switch c.kind {
	case kindString:
		base = "String"
	case kindInt:
		base = "Int" + strconv.Itoa(c.bits)
	case kindUint:
		base = "UInt" + strconv.Itoa(c.bits)
	case kindFloat32:
		base = "Float32"
	case kindFloat64:
		base = "Float64"
	case kindDecimal:
		base = fmt.Sprintf("Decimal(%d, %d)", c.prec, c.scale)
	case kindDateTime:
		base = "DateTime"
	case kindDate:
		base = "Date"
	}
	if c.nullable {
		return "Nullable(" + base + ")"
	}
	return base
}

// sameType reports whether a type read from system.columns is want. A
// DateTime with a time zone (DateTime('UTC')) stores the same numbers as a
// DateTime, so it is the same type here.
func sameType(have, want string) bool {
	norm := func(s string) string {
		s = strings.ReplaceAll(s, " ", "")
		if i := strings.Index(s, "DateTime('"); i >= 0 {
			if j := strings.Index(s[i:], "')"); j >= 0 {
				s = s[:i] + "DateTime" + s[i+j+2:]
			}
		}
		return s
	}
	return norm(have) == norm(want)
}

package clickhouse

import (
	"errors"
	"strconv"
	"strings"
)

// pointer is a parsed JSON pointer (RFC 6901): the reference tokens, unescaped.
type pointer []string

// maxPointerLen bounds a pointer's text; data this deep is not a column.
const maxPointerLen = 256

var errPointer = errors.New(`must be a JSON pointer such as "/total" or "/customer/id" (RFC 6901: "/" before each name, "~0" for "~", "~1" for "/")`)

// parsePointer reads an RFC 6901 JSON pointer. The empty pointer (the whole
// data) is refused: a column holds one value of the data, not all of it,
// which the data column of the events table already has.
func parsePointer(s string) (pointer, error) {
	if len(s) > maxPointerLen {
		return nil, errors.New("is longer than " + strconv.Itoa(maxPointerLen) + " characters")
	}
	if !strings.HasPrefix(s, "/") {
		return nil, errPointer
	}
	parts := strings.Split(s[1:], "/")
	for i, p := range parts {
		if !strings.Contains(p, "~") {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(p); j++ {
			if p[j] != '~' {
				b.WriteByte(p[j])
				continue
			}
			if j+1 == len(p) || (p[j+1] != '0' && p[j+1] != '1') {
				return nil, errPointer
			}
			if p[j+1] == '0' {
				b.WriteByte('~')
			} else {
				b.WriteByte('/')
			}
			j++
		}
		parts[i] = b.String()
	}
	return parts, nil
}

// lookup finds the value the pointer names in v, a value decoded by
// encoding/json (map[string]any, []any, json.Number, string, bool, nil).
func (p pointer) lookup(v any) (any, bool) {
	for _, tok := range p {
		switch n := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = n[tok]; !ok {
				return nil, false
			}
		case []any:
			i, ok := arrayIndex(tok)
			if !ok || i >= len(n) {
				return nil, false
			}
			v = n[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// arrayIndex reads an RFC 6901 array index: "0", or digits without a
// leading zero.
func arrayIndex(tok string) (int, bool) {
	if tok == "" || len(tok) > 9 || (len(tok) > 1 && tok[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return 0, false
		}
		n = n*10 + int(tok[i]-'0')
	}
	return n, true
}

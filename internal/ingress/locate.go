package ingress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// locator finds a value in a request: "header:<Name>" or "json:<RFC 6901 pointer>".
type locator struct {
	header  string // canonical header name, or ""
	pointer string // JSON pointer, or ""
}

func parseLocator(s string) (locator, error) {
	kind, arg, _ := strings.Cut(s, ":")
	switch {
	case kind == "header" && arg != "":
		return locator{header: http.CanonicalHeaderKey(arg)}, nil
	case kind == "json" && strings.HasPrefix(arg, "/"):
		return locator{pointer: arg}, nil
	case s == "":
		return locator{}, nil
	}
	return locator{}, fmt.Errorf("%q: want header:<Name> or json:/<pointer>", s)
}

// String names the place, for error messages.
func (l locator) String() string {
	if l.header != "" {
		return "header " + l.header
	}
	return "JSON pointer " + l.pointer
}

// find returns the located value as a string; a JSON number or boolean is given in
// its JSON text. doc is the decoded body (decoded lazily by the caller).
func (l locator) find(h http.Header, doc func() (any, bool)) (string, bool) {
	if l.header != "" {
		v := h.Get(l.header)
		return v, v != ""
	}
	if l.pointer == "" {
		return "", false
	}
	d, ok := doc()
	if !ok {
		return "", false
	}
	v, ok := pointer(d, l.pointer)
	if !ok {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, x != ""
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// pointer evaluates an RFC 6901 JSON pointer over a decoded document.
func pointer(doc any, p string) (any, bool) {
	if p == "" {
		return doc, true
	}
	if p[0] != '/' {
		return nil, false
	}
	cur := doc
	for tok := range strings.SplitSeq(p[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) || (len(tok) > 1 && tok[0] == '0') {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// decodeJSON decodes body keeping numbers exact.
func decodeJSON(body []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

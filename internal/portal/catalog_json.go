package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// maxJSONDepth bounds how deeply a schema shown in the catalog may nest.
// Registration accepts what the validator accepts; this reader is recursive,
// so it refuses depth that would only make a page nobody can read.
const maxJSONDepth = 256

// errTooDeep means a document nests more than maxJSONDepth.
var errTooDeep = fmt.Errorf("the schema nests more than %d levels", maxJSONDepth)

// object is a JSON object that keeps its members in the order they were
// written, so that the field table lists a schema's properties as its
// author did (a Go map would sort or scramble them).
type object struct {
	keys []string
	vals map[string]any
}

// get returns a member, or nil and false.
func (o *object) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

// decodeOrdered reads one JSON document into nil, bool, json.Number,
// string, []any and *object values.
func decodeOrdered(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("the schema has more than one JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errTooDeep
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			arr := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token()
			return arr, err
		}
		obj := &object{vals: map[string]any{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			v, err := decodeValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			if _, dup := obj.vals[k]; !dup {
				obj.keys = append(obj.keys, k)
			}
			obj.vals[k] = v
		}
		_, err := dec.Token()
		return obj, err
	default:
		return t, nil
	}
}

// jsonText writes v as compact JSON of at most limit bytes; a longer text
// is cut and ends with "…". Writing stops at the limit, so a large value
// costs no more than a small one.
func jsonText(v any, limit int) string {
	w := &limitWriter{limit: limit}
	writeJSON(w, v)
	if w.cut {
		return w.b.String() + "…"
	}
	return w.b.String()
}

// limitWriter is a builder that stops taking bytes at its limit.
type limitWriter struct {
	b     strings.Builder
	limit int
	cut   bool
}

func (w *limitWriter) write(s string) {
	if w.cut {
		return
	}
	if room := w.limit - w.b.Len(); len(s) > room {
		w.b.WriteString(s[:room])
		w.cut = true
		return
	}
	w.b.WriteString(s)
}

func writeJSON(w *limitWriter, v any) {
	if w.cut {
		return
	}
	switch t := v.(type) {
	case *object:
		w.write("{")
		for i, k := range t.keys {
			if i > 0 {
				w.write(",")
			}
			writeJSON(w, k)
			w.write(":")
			writeJSON(w, t.vals[k])
			if w.cut {
				return
			}
		}
		w.write("}")
	case []any:
		w.write("[")
		for i, e := range t {
			if i > 0 {
				w.write(",")
			}
			writeJSON(w, e)
			if w.cut {
				return
			}
		}
		w.write("]")
	case json.Number:
		w.write(t.String())
	default:
		raw, err := json.Marshal(t)
		if err != nil {
			w.write("null")
			return
		}
		w.write(string(raw))
	}
}

// pointerToken escapes one JSON pointer token (RFC 6901).
func pointerToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// lookup follows a local reference ("#", "#/$defs/address") inside root;
// anything else (another document, an $anchor) is not followed.
func lookup(root any, ref string) (any, bool) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	if frag == "" {
		return root, true
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, false
	}
	cur := root
	for _, tok := range strings.Split(frag[1:], "/") {
		if u, err := url.PathUnescape(tok); err == nil {
			tok = u
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case *object:
			if cur, ok = c.get(tok); !ok {
				return nil, false
			}
		case []any:
			i, err := indexOf(tok, len(c))
			if err != nil {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// indexOf reads an array index token that must be below n.
func indexOf(tok string, n int) (int, error) {
	i := 0
	if tok == "" || len(tok) > 9 {
		return 0, errors.New("not an index")
	}
	for _, r := range tok {
		if r < '0' || r > '9' {
			return 0, errors.New("not an index")
		}
		i = i*10 + int(r-'0')
	}
	if i >= n {
		return 0, errors.New("index out of range")
	}
	return i, nil
}

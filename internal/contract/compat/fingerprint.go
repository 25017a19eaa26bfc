package compat

import (
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// Equality of values and of schemas, across documents: enum values are
// compared by a canonical text, schemas by a fingerprint.

// compatKey is a canonical text of a JSON value: equal values (1 and 1.0,
// objects in any key order) have equal keys.
func compatKey(v any) string {
	var b strings.Builder
	appendKey(&b, v)
	return b.String()
}

func appendKey(b *strings.Builder, v any) {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case json.Number:
		if r, ok := rat(t); ok {
			b.WriteString(r.RatString()) // exact: 1 and 1.0 are equal, 0.1 and 0.1000000000000000001 are not
		} else {
			b.WriteString("~" + string(t))
		}
	case string:
		b.WriteString(strconv.Quote(t))
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			appendKey(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(k))
			b.WriteByte(':')
			appendKey(b, t[k])
		}
		b.WriteByte('}')
	}
}

// fingerprint identifies what a subschema accepts: equal fingerprints mean
// equal schemas, in any two documents. It hashes the subschema's keywords,
// annotations left out, with each subschema and $ref target replaced by its
// own fingerprint, so each is computed once. A subschema that reaches itself
// through $ref gets "" (unknown), which never matches: the checker then
// compares it keyword by keyword, which handles cycles.
func (n *node) fingerprint() string {
	if n.fpDone {
		return n.fp
	}
	if n.fpBusy {
		return ""
	}
	n.fpBusy = true
	defer func() { n.fpBusy, n.fpDone = false, true }()
	var b strings.Builder
	if n.doc.legacy {
		b.WriteString("L") // $ref siblings and format mean something else there
	}
	if !n.fpKeywords(&b) {
		return ""
	}
	sum := sha256.Sum256([]byte(b.String()))
	n.fp = string(sum[:16])
	return n.fp
}

// schemaKeywords tells how each keyword holds subschemas: one ('s'),
// a map of them ('m') or a list ('l').
var schemaKeywords = map[string]byte{
	"additionalProperties": 's', "unevaluatedProperties": 's', "propertyNames": 's', "contains": 's',
	"not": 's', "if": 's', "then": 's', "else": 's', "additionalItems": 's', "unevaluatedItems": 's',
	"items": 's', "properties": 'm', "patternProperties": 'm', "dependentSchemas": 'm',
	"dependencies": 'm', "allOf": 'l', "anyOf": 'l', "oneOf": 'l', "prefixItems": 'l',
}

func (n *node) fpKeywords(b *strings.Builder) bool {
	m, ok := n.raw.(map[string]any)
	if !ok {
		appendKey(b, n.raw)
		return true
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !compatAnnotations[k] && n.doc.honors(k) && (!n.doc.legacy || k == "$ref" || m["$ref"] == nil) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	sub := func(ptr string) bool {
		c := n.doc.nodes[ptr]
		if c == nil {
			return false
		}
		f := c.fingerprint()
		b.WriteString(f) // 16 bytes: no separator needed
		return f != ""
	}
	b.WriteByte('{')
	for _, k := range keys {
		appendName(b, k)
		at := n.ptr + "/" + esc(k)
		ok := true
		switch v := m[k]; {
		case k == "$ref" && n.ref != nil:
			f := n.ref.fingerprint()
			b.WriteString(f)
			ok = f != ""
		case schemaKeywords[k] == 'm':
			sm, _ := v.(map[string]any)
			for _, name := range sortedKeys(sm) {
				appendName(b, name)
				if list, isList := sm[name].([]any); isList && k == "dependencies" {
					appendKey(b, list)
				} else if !sub(at + "/" + esc(name)) {
					ok = false
				}
			}
		case schemaKeywords[k] == 'l' || schemaKeywords[k] == 's':
			if list, isList := v.([]any); isList {
				for i := range list {
					ok = ok && sub(at+"/"+strconv.Itoa(i))
				}
			} else {
				ok = sub(at)
			}
		default:
			appendKey(b, v)
		}
		if !ok {
			return false
		}
		b.WriteByte(',')
	}
	b.WriteByte('}')
	return true
}

// appendName writes a name so that no two sequences of names read
// the same: its length, then the name.
func appendName(b *strings.Builder, name string) {
	b.WriteString(strconv.Itoa(len(name)))
	b.WriteByte(':')
	b.WriteString(name)
}

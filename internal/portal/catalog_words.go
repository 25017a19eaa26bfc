package portal

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// The words of the field table: a schema's types and rules as a reader
// without JSON Schema would say them.

// describe fills a row's type, format, description, example and rules.
func (w *fieldWalker) describe(s resolved) schemaField {
	var f schemaField
	if s.boolean != nil {
		if *s.boolean {
			f.Type = "any"
		} else {
			f.Type = "none"
			f.Rules = []string{"no value is allowed here"}
		}
		return f
	}
	f.Type = w.typeText(s, 0)
	if v, ok := s.get("format"); ok {
		f.Format = clipText(fmt.Sprint(v))
	}
	for _, k := range []string{"description", "title"} {
		if v, ok := mustGet(s, k).(string); ok && v != "" {
			f.Description = clipText(v)
			break
		}
	}
	if v, ok := s.get("examples"); ok {
		if l, ok := v.([]any); ok && len(l) > 0 {
			f.Example = jsonText(l[0], maxCellText)
		}
	}
	for _, k := range []string{"example", "const", "default"} {
		if v, ok := s.get(k); ok && f.Example == "" {
			f.Example = jsonText(v, maxCellText)
		}
	}
	f.Rules = rulesOf(s)
	return f
}

// typeText names the JSON type(s) a schema allows.
func (w *fieldWalker) typeText(s resolved, depth int) string {
	t := ""
	switch v, _ := s.get("type"); tv := v.(type) {
	case string:
		t = tv
	case []any:
		names := make([]string, 0, len(tv))
		for _, e := range tv {
			names = append(names, fmt.Sprint(e))
		}
		t = strings.Join(names, " or ")
	}
	if t == "" {
		t = w.inferType(s, depth)
	}
	if t == "array" && depth < 2 {
		if it, ok := s.get("items"); ok {
			if _, isObj := it.(*object); isObj {
				if inner := w.typeText(w.resolve(it), depth+1); inner != "any" {
					t = "array of " + inner
				}
			}
		}
	}
	return clipText(t)
}

// inferType names the type of a schema without a type keyword.
func (w *fieldWalker) inferType(s resolved, depth int) string {
	switch {
	case has(s, "properties"), has(s, "additionalProperties"), has(s, "required"):
		return "object"
	case has(s, "items"), has(s, "prefixItems"):
		return "array"
	}
	if v, ok := s.get("const"); ok {
		return kindOf(v)
	}
	if v, ok := s.get("enum"); ok {
		var kinds []string
		for i, e := range asList(v) {
			if i == maxEnumKinds {
				break
			}
			if k := kindOf(e); !slices.Contains(kinds, k) {
				kinds = append(kinds, k)
			}
		}
		if len(kinds) > 0 {
			return strings.Join(kinds, " or ")
		}
	}
	if depth < 2 {
		for _, kw := range []string{"anyOf", "oneOf"} {
			if alts := asList(mustGet(s, kw)); len(alts) > 0 {
				var names []string
				for i, alt := range alts {
					if i == maxShapes {
						names = append(names, fmt.Sprintf("%d more", len(alts)-i))
						break
					}
					names = append(names, w.typeText(w.resolve(alt), depth+1))
				}
				return "one of: " + strings.Join(names, " | ")
			}
		}
		for i, part := range asList(mustGet(s, "allOf")) {
			if i == maxShapes {
				break
			}
			if t := w.typeText(w.resolve(part), depth+1); t != "any" {
				return t
			}
		}
	}
	return "any"
}

// rulesOf words a schema's constraints.
func rulesOf(s resolved) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, clipText(fmt.Sprintf(format, args...))) }
	if v, ok := s.get("enum"); ok {
		vals := asList(v)
		shown := make([]string, 0, min(len(vals), maxEnumShown))
		for i, e := range vals {
			if i == maxEnumShown {
				break
			}
			shown = append(shown, jsonText(e, 60))
		}
		more := ""
		if len(vals) > maxEnumShown {
			more = fmt.Sprintf(" and %d more", len(vals)-maxEnumShown)
		}
		add("one of %s%s", strings.Join(shown, ", "), more)
	}
	if v, ok := s.get("const"); ok {
		add("exactly %s", jsonText(v, 80))
	}
	for _, r := range []struct{ kw, words string }{
		{"minimum", "at least %s"}, {"exclusiveMinimum", "more than %s"},
		{"maximum", "at most %s"}, {"exclusiveMaximum", "less than %s"},
		{"multipleOf", "a multiple of %s"},
		{"minLength", "at least %s characters"}, {"maxLength", "at most %s characters"},
		{"pattern", "matches %s"},
		{"minItems", "at least %s items"}, {"maxItems", "at most %s items"},
		{"minProperties", "at least %s members"}, {"maxProperties", "at most %s members"},
	} {
		if v, ok := s.get(r.kw); ok {
			if _, isBool := v.(bool); !isBool {
				add(r.words, jsonText(v, 80))
			}
		}
	}
	if v, _ := s.get("uniqueItems"); v == true {
		add("no repeated items")
	}
	if v, _ := s.get("additionalProperties"); v == false {
		add("no other members")
	}
	if v, _ := s.get("deprecated"); v == true {
		add("deprecated")
	}
	if has(s, "if") || has(s, "dependentSchemas") || has(s, "dependentRequired") || has(s, "not") {
		add("has conditional rules; see the schema")
	}
	return out
}

// kindOf is the JSON type of a value.
func kindOf(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		if _, err := t.Int64(); err == nil {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

// clipText cuts s to maxCellText bytes, on a rune boundary.
func clipText(s string) string {
	if len(s) <= maxCellText {
		return s
	}
	cut := maxCellText
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

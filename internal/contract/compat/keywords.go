package compat

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Decoding the keywords of one subschema, and refusing what is not a schema.

// keywords decodes the keywords of one schema object.
func (c *compatCompiler) keywords(n *node, m map[string]any, depth int) error {
	sub := func(kw string) (*node, error) {
		return c.compile(m[kw], n.ptr+"/"+esc(kw), depth+1)
	}
	bad := func(kw, want string) error {
		return fmt.Errorf("%s: %q must be %s", compatWhere(n.ptr), kw, want)
	}
	for _, kw := range []string{"$defs", "definitions"} {
		if v, ok := m[kw]; ok {
			if _, err := c.schemaMap(v, n.ptr+"/"+kw, depth); err != nil {
				return err
			}
		}
	}
	if a, ok := m["$anchor"].(string); ok && c.doc.honors("$anchor") {
		c.anchors[a] = n
	}
	if id, ok := m["$id"].(string); ok && strings.HasPrefix(id, "#") && c.doc.legacy {
		c.anchors[id[1:]] = n
	}
	if r, ok := m["$ref"]; ok {
		s, isStr := r.(string)
		if !isStr {
			return bad("$ref", "a string")
		}
		c.refStr[n] = s
		c.pending = append(c.pending, n)
		if c.doc.legacy {
			return nil // draft-07: siblings of $ref are ignored
		}
	}
	for kw, v := range m {
		if !c.doc.honors(kw) {
			continue
		}
		var err error
		switch kw {
		case "type":
			err = n.setTypes(v)
		case "enum":
			list, ok := v.([]any)
			if !ok {
				return bad(kw, "an array")
			}
			n.setEnum(list, false)
		case "const":
			if _, isEnum := m["enum"]; !isEnum {
				n.setEnum([]any{v}, true)
			}
		case "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum":
			if _, isBool := v.(bool); isBool && c.doc.dialect == 4 && strings.HasPrefix(kw, "exclusive") {
				break // draft-04: makes minimum/maximum exclusive
			}
			if _, ok := num(v); !ok {
				return bad(kw, "a number")
			}
		case "multipleOf":
			f, ok := num(v)
			if !ok || f <= 0 {
				return bad(kw, "a number above 0")
			}
			if n.multipleOf, ok = rat(v); !ok {
				n.unsupported = append(n.unsupported, kw) // too long to work with exactly
			}
			n.multLit = string(v.(json.Number))
		case "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "minContains", "maxContains":
			i, ok := compatCount(v)
			if !ok {
				return bad(kw, "a whole number, 0 or more")
			}
			*n.count(kw) = i
		case "pattern":
			s, ok := v.(string)
			if !ok {
				return bad(kw, "a string")
			}
			n.pattern, n.hasPattern = s, true
			n.re = compatRegexp(s)
		case "format":
			s, ok := v.(string)
			if !ok {
				return bad(kw, "a string")
			}
			if c.doc.legacy {
				n.format = s
			}
		case "properties":
			n.props, err = c.schemaMap(v, n.ptr+"/properties", depth)
		case "patternProperties":
			var ps map[string]*node
			if ps, err = c.schemaMap(v, n.ptr+"/patternProperties", depth); err == nil {
				for src, p := range ps {
					n.patterns = append(n.patterns, compatPattern{src: src, re: compatRegexp(src), node: p})
				}
				slices.SortFunc(n.patterns, func(a, b compatPattern) int { return strings.Compare(a.src, b.src) })
			}
		case "required":
			n.required, err = compatStrings(v)
			if err != nil {
				return bad(kw, "an array of strings")
			}
		case "additionalProperties":
			n.additional, err = sub(kw)
		case "unevaluatedProperties":
			n.unevalProps, err = sub(kw)
		case "propertyNames":
			n.propertyNames, err = sub(kw)
		case "contains":
			n.contains, err = sub(kw)
		case "not":
			n.not, err = sub(kw)
		case "if":
			n.ifN, err = sub(kw)
		case "then":
			n.thenN, err = sub(kw)
		case "else":
			n.elseN, err = sub(kw)
		case "unevaluatedItems":
			n.unevalItems, err = sub(kw)
		case "prefixItems":
			n.prefix, err = c.schemaList(v, n.ptr+"/prefixItems", depth, false)
			n.prefixKw = kw
		case "items":
			if _, isList := v.([]any); isList && c.doc.dialect == 2020 {
				return bad(kw, `one schema in draft 2020-12 (a tuple is "prefixItems")`)
			} else if isList {
				n.prefix, err = c.schemaList(v, n.ptr+"/items", depth, false)
				n.prefixKw = kw
				if _, ok := m["additionalItems"]; ok {
					n.items, err = sub("additionalItems")
					n.itemsKw = "additionalItems"
				}
			} else {
				n.items, err = sub(kw)
				n.itemsKw = kw
			}
		case "allOf", "anyOf", "oneOf":
			var list []*node
			if list, err = c.schemaList(v, n.ptr+"/"+kw, depth, true); err == nil {
				*n.group(kw) = list
			}
		case "dependentRequired":
			err = c.dependencies(n, v, depth, kw, false)
		case "dependentSchemas":
			err = c.dependencies(n, v, depth, kw, true)
		case "dependencies":
			err = c.dependencies(n, v, depth, kw, true)
		case "uniqueItems":
			b, ok := v.(bool)
			if !ok {
				return bad(kw, "true or false")
			}
			n.unique = b
		case "default":
			n.hasDefault = true
		case "$dynamicRef", "$recursiveRef":
			n.unsupported = append(n.unsupported, kw)
		}
		if err != nil {
			return err
		}
	}
	if cv, ok := m["const"]; ok && n.hasEnum && !n.isConst && c.doc.honors("const") {
		// Both enum and const: only the const, and only if the enum has it.
		in := n.enumKeys[compatKey(cv)]
		n.setEnum([]any{}, true)
		if in {
			n.setEnum([]any{cv}, true)
		}
	}
	var exact bool
	if n.lo, exact = compatBounds(m, "minimum", "exclusiveMinimum", true); !exact {
		n.unsupported = append(n.unsupported, "minimum")
	}
	if n.hi, exact = compatBounds(m, "maximum", "exclusiveMaximum", false); !exact {
		n.unsupported = append(n.unsupported, "maximum")
	}
	return nil
}

func (n *node) count(kw string) *int {
	switch kw {
	case "minLength":
		return &n.minLength
	case "maxLength":
		return &n.maxLength
	case "minItems":
		return &n.minItems
	case "maxItems":
		return &n.maxItems
	case "minProperties":
		return &n.minProps
	case "maxProperties":
		return &n.maxProps
	case "minContains":
		return &n.minContains
	}
	return &n.maxContains
}

func (n *node) group(kw string) *[]*node {
	switch kw {
	case "allOf":
		return &n.allOf
	case "anyOf":
		return &n.anyOf
	}
	return &n.oneOf
}

func (n *node) setTypes(v any) error {
	var names []string
	switch t := v.(type) {
	case string:
		names = []string{t}
	case []any:
		var err error
		if names, err = compatStrings(t); err != nil {
			return fmt.Errorf("%s: \"type\" must be a type name or a list of them", compatWhere(n.ptr))
		}
	default:
		return fmt.Errorf("%s: \"type\" must be a type name or a list of them", compatWhere(n.ptr))
	}
	n.hasType = true
	for _, name := range names {
		t, ok := typeNames[name]
		if !ok {
			return fmt.Errorf("%s: %q is not a JSON Schema type (use %s)", compatWhere(n.ptr), name, typeList)
		}
		n.types |= t
	}
	return nil
}

func (n *node) setEnum(list []any, isConst bool) {
	n.hasEnum, n.isConst, n.enum = true, isConst, list
	n.enumKeys = make(map[string]bool, len(list))
	for _, v := range list {
		n.enumKeys[compatKey(v)] = true
	}
}

// compatBounds reads one side's bounds: the tighter of the inclusive and the
// exclusive keyword, with draft-04's boolean exclusiveMinimum/Maximum, which
// makes minimum/maximum exclusive.
// A number too long to read exactly makes exact false: the bound is then
// left out and reported as not comparable.
func compatBounds(m map[string]any, incl, excl string, lower bool) (b compatBound, exact bool) {
	for _, kw := range []string{incl, excl} {
		v, ok := m[kw].(json.Number)
		if !ok {
			continue
		}
		r, ok := rat(v)
		if !ok {
			return compatBound{}, false
		}
		flag, _ := m[excl].(bool) // draft-04
		nb := compatBound{r: r, lit: string(v), excl: kw == excl || flag, set: true}
		if !b.set || tighterBound(nb, b, lower) {
			b = nb
		}
	}
	return b, true
}

// tighterBound tells whether bound a allows less than bound b.
func tighterBound(a, b compatBound, lower bool) bool {
	c := a.r.Cmp(b.r)
	if !lower {
		c = -c
	}
	return c > 0 || c == 0 && a.excl && !b.excl
}

// rat reads a JSON number exactly, as weir's validator does (0.1 is
// one tenth, not the nearest binary fraction); false for a number too long
// or too large to be worth exact work.
func rat(v any) (*big.Rat, bool) {
	n, ok := v.(json.Number)
	if !ok || len(n) > 64 {
		return nil, false
	}
	if i := strings.IndexAny(string(n), "eE"); i >= 0 {
		if e, err := strconv.Atoi(string(n[i+1:])); err != nil || e > 400 || e < -400 {
			return nil, false
		}
	}
	return new(big.Rat).SetString(string(n))
}

func (c *compatCompiler) dependencies(n *node, v any, depth int, kw string, schemas bool) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: %q must be an object", compatWhere(n.ptr), kw)
	}
	for name, d := range m {
		if list, isList := d.([]any); isList {
			names, err := compatStrings(list)
			if err != nil {
				return fmt.Errorf("%s: %q of %q must list property names", compatWhere(n.ptr), kw, name)
			}
			if n.depReq == nil {
				n.depReq = map[string][]string{}
			}
			n.depReq[name] = names
			continue
		}
		if !schemas {
			return fmt.Errorf("%s: %q of %q must list property names", compatWhere(n.ptr), kw, name)
		}
		s, err := c.compile(d, n.ptr+"/"+kw+"/"+esc(name), depth+1)
		if err != nil {
			return err
		}
		if n.depSchemas == nil {
			n.depSchemas = map[string]*node{}
		}
		n.depSchemas[name] = s
	}
	return nil
}

func (c *compatCompiler) schemaMap(v any, ptr string, depth int) (map[string]*node, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s must be an object of schemas", compatWhere(ptr))
	}
	out := make(map[string]*node, len(m))
	for k, s := range m {
		n, err := c.compile(s, ptr+"/"+esc(k), depth+1)
		if err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, nil
}

func (c *compatCompiler) schemaList(v any, ptr string, depth int, nonEmpty bool) ([]*node, error) {
	list, ok := v.([]any)
	if !ok || nonEmpty && len(list) == 0 {
		return nil, fmt.Errorf("%s must be a non-empty array of schemas", compatWhere(ptr))
	}
	out := make([]*node, len(list))
	for i, s := range list {
		n, err := c.compile(s, ptr+"/"+strconv.Itoa(i), depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// num reads a JSON number; out-of-range values become ±Inf or 0, which
// keeps their order.
func num(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	var ne *strconv.NumError
	if err != nil && !(errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange)) {
		return 0, false
	}
	return f, true
}

// compatCount reads a non-negative whole number, capped far above any real
// length so that arithmetic on it cannot overflow.
func compatCount(v any) (int, bool) {
	f, ok := num(v)
	if !ok || f < 0 || f != math.Trunc(f) {
		return 0, false
	}
	return int(min(f, math.MaxInt32)), true
}

func compatStrings(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("not a list")
	}
	out := make([]string, len(list))
	for i, s := range list {
		if out[i], ok = s.(string); !ok {
			return nil, errors.New("not a string")
		}
	}
	return out, nil
}

var (
	escaper   = strings.NewReplacer("~", "~0", "/", "~1")
	unescaper = strings.NewReplacer("~1", "/", "~0", "~")
)

// esc escapes one JSON pointer segment (RFC 6901).
func esc(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return escaper.Replace(s)
}

// regexps caches compiled patterns across checks: a contract's
// versions repeat the same patterns, and compiling them dominated the cost.
// It stops growing at a bound, so hostile input cannot fill memory.
var regexps sync.Map

func compatRegexp(p string) *regexp.Regexp {
	if re, ok := regexps.Load(p); ok {
		return re.(*regexp.Regexp)
	}
	re, err := regexp.Compile(p)
	if err != nil {
		re = nil
	}
	if regexpCount.Add(1) <= 4096 {
		regexps.Store(p, re)
	}
	return re
}

var regexpCount atomic.Int64

package compat

import (
	"encoding/json"
	"math/bits"
	"slices"
	"strconv"
	"sync/atomic"
)

// compatTypes is a set of JSON types. Numbers are split into whole and
// fractional ones, because "integer" is the part of "number" without fractions:
// that is what makes number -> integer a narrowing and not a change.
type compatTypes uint8

const (
	ckNull compatTypes = 1 << iota
	ckBool
	ckObject
	ckArray
	ckString
	ckInt
	ckFrac
	ckNumber = ckInt | ckFrac
	ckAll    = ckNull | ckBool | ckObject | ckArray | ckString | ckNumber
)

var typeNames = map[string]compatTypes{
	"null": ckNull, "boolean": ckBool, "object": ckObject, "array": ckArray,
	"string": ckString, "integer": ckInt, "number": ckNumber,
}

const typeList = `"string", "number", "integer", "boolean", "object", "array" or "null"`

// typeOf is the type of a decoded JSON value.
func typeOf(v any) compatTypes {
	switch t := v.(type) {
	case nil:
		return ckNull
	case bool:
		return ckBool
	case map[string]any:
		return ckObject
	case []any:
		return ckArray
	case string:
		return ckString
	case json.Number:
		r, ok := rat(t)
		switch {
		case !ok:
			return ckNumber // too long to tell: either
		case r.IsInt():
			return ckInt
		}
		return ckFrac
	}
	return 0
}

// nodeIDs numbers subschemas across documents, for the keys of sides.
var nodeIDs atomic.Uint64

// compatSide is the schema on one side of a comparison: the conjunction of
// nodes (all must hold), with the anyOf/oneOf options already chosen while
// the checker splits a union into its cases.
type compatSide struct {
	nodes []*node
	picks []compatPick
}

// compatPick records that a union is being considered through one option;
// branch -1 means the union is left out (which only widens that side).
type compatPick struct {
	node   *node
	one    bool // oneOf rather than anyOf
	branch int
}

func sideOf(nodes ...*node) compatSide { return compatSide{nodes: nodes} }

func (s compatSide) with(n *node) compatSide {
	return compatSide{nodes: append(slices.Clip(s.nodes), n), picks: s.picks}
}

func (s compatSide) pick(p compatPick) compatSide {
	return compatSide{nodes: s.nodes, picks: append(slices.Clip(s.picks), p)}
}

func (s compatSide) picked(n *node, one bool) (compatPick, bool) {
	for _, p := range s.picks {
		if p.node == n && p.one == one {
			return p, true
		}
	}
	return compatPick{}, false
}

// key identifies a side for caches and for the cycle check.
func (s compatSide) key() string {
	ids := make([]uint64, 0, len(s.nodes))
	for _, n := range s.nodes {
		ids = append(ids, n.id)
	}
	slices.Sort(ids)
	b := make([]byte, 0, 16*len(ids))
	for i, id := range ids {
		if i == 0 || id != ids[i-1] {
			b = strconv.AppendUint(append(b, ','), id, 36)
		}
	}
	for _, p := range s.picks {
		b = strconv.AppendUint(append(b, '|'), p.node.id, 36)
		b = strconv.AppendInt(append(b, ':'), int64(p.branch), 36)
		if p.one {
			b = append(b, '1')
		}
	}
	return string(b)
}

// view is a side flattened: its conjuncts (through allOf, $ref and the
// chosen options) and the tightest value of each keyword, with the node that
// sets it so that an issue can point there.
type view struct {
	parts   []*node
	empty   bool
	types   compatTypes
	typeSrc *node
	enum    *node // the smallest enum or const

	lo, hi       compatBound
	loSrc, hiSrc *node
	mults        []*node

	minLen, maxLen       int
	minLenSrc, maxLenSrc *node
	patterns, formats    []*node

	minItems, maxItems       int
	minItemsSrc, maxItemsSrc *node
	unique                   *node
	contains                 []*node

	minProps, maxProps       int
	minPropsSrc, maxPropsSrc *node

	groups      []compatGroup
	nots        []*node // not keywords beyond plain "not a type"
	conds       []*node // parts with if/then/else
	unsupported []*node // parts with keywords the checker cannot compare
}

// compatGroup is an anyOf or oneOf that has not been split.
type compatGroup struct {
	node     *node
	one      bool
	branches []*node
}

func (g compatGroup) kw() string {
	if g.one {
		return "oneOf"
	}
	return "anyOf"
}

func (c *checker) view(s compatSide) *view {
	key := s.key()
	if v, ok := c.views[key]; ok {
		return v
	}
	v := &view{types: ckAll, minLen: -1, maxLen: -1, minItems: -1, maxItems: -1, minProps: -1, maxProps: -1}
	seen := map[*node]bool{}
	var walk func(n *node)
	walk = func(n *node) {
		if seen[n] {
			return
		}
		seen[n] = true
		c.step()
		v.parts = append(v.parts, n)
		if n.ref != nil {
			walk(n.ref)
		}
		for _, a := range n.allOf {
			walk(a)
		}
		for _, g := range []compatGroup{{n, false, n.anyOf}, {n, true, n.oneOf}} {
			if len(g.branches) == 0 {
				continue
			}
			if p, ok := s.picked(n, g.one); ok {
				if p.branch >= 0 {
					walk(g.branches[p.branch])
				}
				continue
			}
			v.groups = append(v.groups, g)
		}
	}
	for _, n := range s.nodes {
		walk(n)
	}
	for _, p := range v.parts {
		v.merge(p)
	}
	c.views[key] = v // before the groups: a union that refers to itself ends here
	for _, g := range v.groups {
		var t compatTypes
		for _, b := range g.branches {
			t |= c.typesOf(b)
		}
		v.types &= t
	}
	if v.types&ckFrac != 0 {
		for _, m := range v.mults {
			if m.multipleOf.IsInt() {
				v.types &^= ckFrac // a multiple of a whole number is whole
			}
		}
	}
	v.empty = v.empty || v.types == 0
	return v
}

// typesOf is the set of types a subschema allows, looking a bounded depth
// into unions (beyond it, every type: that only makes the check stricter).
func (c *checker) typesOf(n *node) compatTypes {
	if c.typeDepth > 8 {
		return ckAll
	}
	c.typeDepth++
	defer func() { c.typeDepth-- }()
	return c.view(sideOf(n)).types
}

func (v *view) merge(p *node) {
	if p.isFalse {
		v.empty = true
	}
	if p.hasType {
		v.types &= p.types
		if v.typeSrc == nil {
			v.typeSrc = p
		}
	}
	if p.hasEnum {
		v.types &= p.enumTypes()
		if v.enum == nil || len(p.enum) < len(v.enum.enum) {
			v.enum = p
		}
		v.empty = v.empty || len(p.enum) == 0
	}
	if p.lo.set && (!v.lo.set || tighterBound(p.lo, v.lo, true)) {
		v.lo, v.loSrc = p.lo, p
	}
	if p.hi.set && (!v.hi.set || tighterBound(p.hi, v.hi, false)) {
		v.hi, v.hiSrc = p.hi, p
	}
	if p.multipleOf != nil {
		v.mults = append(v.mults, p)
	}
	compatTighter(&v.minLen, &v.minLenSrc, p.minLength, p, true)
	compatTighter(&v.maxLen, &v.maxLenSrc, p.maxLength, p, false)
	compatTighter(&v.minItems, &v.minItemsSrc, p.minItems, p, true)
	compatTighter(&v.maxItems, &v.maxItemsSrc, p.maxItems, p, false)
	compatTighter(&v.minProps, &v.minPropsSrc, p.minProps, p, true)
	compatTighter(&v.maxProps, &v.maxPropsSrc, p.maxProps, p, false)
	if p.hasPattern {
		v.patterns = append(v.patterns, p)
	}
	if p.format != "" {
		v.formats = append(v.formats, p)
	}
	if p.unique && v.unique == nil {
		v.unique = p
	}
	if p.contains != nil {
		v.contains = append(v.contains, p)
	}
	if p.not != nil {
		if t, ok := p.not.onlyTypes(); ok {
			v.types &^= t
		} else {
			v.nots = append(v.nots, p)
		}
	}
	if p.ifN != nil {
		v.conds = append(v.conds, p)
	}
	if len(p.unsupported) > 0 || p.refExternal != "" {
		v.unsupported = append(v.unsupported, p)
	}
}

func compatTighter(cur *int, src **node, val int, p *node, lower bool) {
	if val >= 0 && (*cur < 0 || lower && val > *cur || !lower && val < *cur) {
		*cur, *src = val, p
	}
}

func (n *node) enumTypes() compatTypes {
	var t compatTypes
	for _, v := range n.enum {
		t |= typeOf(v)
		if t == ckAll {
			break
		}
	}
	return t
}

// onlyTypes reports the types of a subschema that says nothing but "type".
func (n *node) onlyTypes() (compatTypes, bool) {
	m, ok := n.raw.(map[string]any)
	if !ok || !n.hasType {
		return 0, false
	}
	for k := range m {
		if k != "type" && !compatAnnotations[k] {
			return 0, false
		}
	}
	return n.types, true
}

// compatAnnotations are keywords that never change what a schema accepts.
var compatAnnotations = map[string]bool{
	"title": true, "description": true, "$comment": true, "examples": true, "default": true,
	"deprecated": true, "readOnly": true, "writeOnly": true, "$id": true, "id": true, "$schema": true,
	"$anchor": true, "$defs": true, "definitions": true, "$vocabulary": true, "contentEncoding": true,
	"contentMediaType": true, "contentSchema": true, "$dynamicAnchor": true, "$recursiveAnchor": true,
}

// typeCount is how many JSON types a set names (integer and fraction
// counting as one number).
func typeCount(t compatTypes) int {
	if t&ckNumber != 0 {
		t = t&^ckNumber | ckInt
	}
	return bits.OnesCount8(uint8(t))
}

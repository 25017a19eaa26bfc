package compat

import (
	"slices"
	"strconv"
	"strings"
)

// Objects: every property an A-object may have must be acceptable to B, and
// every property B insists on must be there. What a property may hold comes
// from properties, then patternProperties, then additionalProperties, then
// unevaluatedProperties, across all of a side's conjuncts.

func (c *checker) objects(a compatSide, va, vb *view, loc compatLoc) {
	aReq, bReq := c.requiredOf(va), c.requiredOf(vb)
	names := map[string]bool{}
	for _, v := range []*view{va, vb} {
		for _, p := range v.parts {
			for n := range p.props {
				names[n] = true
			}
			for k, list := range p.depReq {
				names[k] = true
				for _, n := range list {
					names[n] = true
				}
			}
		}
	}
	for _, req := range []map[string]string{aReq, bReq} {
		for n := range req {
			names[n] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	slices.Sort(sorted)
	for _, n := range sorted {
		if c.stopped() {
			return
		}
		c.property(va, vb, n, aReq, bReq, loc)
	}
	c.otherProperties(va, vb, loc)
	c.propertyCounts(va, vb, aReq, loc)
	c.propertyNames(va, vb, loc)
	c.dependencies(a, va, vb, aReq, loc)
}

// requiredOf maps each required name to the pointer of its "required" entry.
func (c *checker) requiredOf(v *view) map[string]string {
	out := map[string]string{}
	for _, p := range v.parts {
		for i, n := range p.required {
			if _, ok := out[n]; !ok {
				out[n] = p.ptr + "/required/" + strconv.Itoa(i)
			}
		}
	}
	return out
}

// propSchemas lists the subschemas a property's value must meet, without
// those that accept anything; none means any value. declared points at the
// property in "properties" if a conjunct lists it. strict is for side B: a
// pattern Go cannot compile is assumed to match, and unevaluatedProperties to
// apply, which only makes B stricter; on side A the opposite holds.
func (c *checker) propSchemas(v *view, name string, strict bool) (nodes []*node, declared, src string) {
	c.step()
	add := func(n *node) {
		if !n.isTrue {
			nodes = append(nodes, n)
			if src == "" {
				src = n.ptr
			}
		}
	}
	for _, p := range v.parts {
		if s, ok := p.props[name]; ok {
			if declared == "" {
				declared = s.ptr
			}
			add(s)
			continue
		}
		matched, unsure := false, false
		for _, pp := range p.patterns {
			switch {
			case pp.re == nil:
				// Whether it matches is unknown: B takes both its schema and
				// additionalProperties, A neither.
				unsure = true
				if strict {
					add(pp.node)
				}
			case pp.re.MatchString(name):
				add(pp.node)
				matched = true
			}
		}
		if !matched && (strict || !unsure) && p.additional != nil {
			add(p.additional)
		}
	}
	for _, p := range v.parts {
		if p.unevalProps != nil && !c.evaluated(p, strict, func(q *node) bool {
			if _, ok := q.props[name]; ok || q.additional != nil {
				return true
			}
			for _, pp := range q.patterns {
				if pp.re == nil && !strict || pp.re != nil && pp.re.MatchString(name) {
					return true
				}
			}
			return false
		}) {
			add(p.unevalProps)
		}
	}
	return nodes, declared, src
}

// evaluated tells whether some subschema in the scope of p's
// unevaluatedProperties takes care of a name (hit says if one does). For
// side B (strict) only the conjuncts count; for side A also the options of
// its unions and conditionals, which may take care of it.
func (c *checker) evaluated(p *node, strict bool, hit func(*node) bool) bool {
	seen := map[*node]bool{}
	var walk func(n *node) bool
	walk = func(n *node) bool {
		if n == nil || seen[n] {
			return false
		}
		seen[n] = true
		c.step()
		if hit(n) || walk(n.ref) {
			return true
		}
		more := n.allOf
		if !strict {
			more = slices.Concat(n.allOf, n.anyOf, n.oneOf, []*node{n.thenN, n.elseN})
			for _, d := range n.depSchemas {
				more = append(more, d)
			}
		}
		for _, m := range more {
			if walk(m) {
				return true
			}
		}
		return false
	}
	return walk(p)
}

func (c *checker) property(va, vb *view, name string, aReq, bReq map[string]string, loc compatLoc) {
	c.step()
	aS, aDecl, aSrc := c.propSchemas(va, name, false)
	bS, bDecl, bSrc := c.propSchemas(vb, name, true)
	aReqPtr, aR := aReq[name]
	child := loc.child(name, compatOr(aDecl, aSrc, aReqPtr), compatOr(bDecl, bSrc))
	bReqPtr, bR := bReq[name]
	if bR && !aR {
		rule := c.pick("required-added", "required-removed")
		if !c.forward && slices.ContainsFunc(bS, func(n *node) bool { return n.hasDefault }) {
			rule = "required-added-with-default"
		}
		c.report(rule, child, "", bReqPtr, detail{})
	}
	aForbidden := len(aS) > 0 && c.view(sideOf(aS...)).empty
	if aForbidden || len(bS) == 0 {
		return
	}
	bForbidden := c.view(sideOf(bS...)).empty
	switch {
	case len(aS) == 0 && aDecl == "" && bDecl != "" && !bForbidden:
		// A does not list the property and lets it hold anything; B lists it.
		if c.lenient && !bR {
			return
		}
		c.report(c.pick("property-added-to-open-object", "property-removed-from-open-object"), child, "", bDecl,
			detail{declT: c.typesOf(bS[0]), parent: loc.field})
	case bForbidden && bDecl == "":
		// B is closed and does not list it.
		if c.forward {
			c.report("property-added-to-closed-object", child, aDecl, bSrc, detail{parent: loc.field})
		} else {
			c.report("property-removed-from-closed-object", child, compatOr(aDecl, aSrc, aReqPtr), "", detail{parent: loc.field})
		}
	default:
		c.sub(sideOf(aS...), sideOf(bS...), child)
	}
}

// compatOr is the first non-empty text.
func compatOr(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// otherProperties compares what each side allows for names neither lists:
// one class of names per pattern of A, and one for the rest.
func (c *checker) otherProperties(va, vb *view, loc compatLoc) {
	type class struct {
		pattern string // "" for names matching no pattern of A
		a       []*node
		ptr     string
	}
	var aPatterns []string
	var classes []class
	rest := class{}
	for _, p := range va.parts {
		unsure := false
		for _, pp := range p.patterns {
			aPatterns = append(aPatterns, pp.src)
			unsure = unsure || pp.re == nil
			if !pp.node.isTrue {
				classes = append(classes, class{pattern: pp.src, a: []*node{pp.node}, ptr: pp.node.ptr})
			}
		}
		// A name matching a pattern Go cannot read may be the pattern's,
		// not additionalProperties': then A is taken as not constraining it.
		if p.additional != nil && !p.additional.isTrue && !unsure {
			rest.a = append(rest.a, p.additional)
			rest.ptr = compatOr(rest.ptr, p.additional.ptr)
		}
	}
	for _, p := range va.parts {
		if p.unevalProps != nil && !p.unevalProps.isTrue && !c.evaluated(p, false, func(q *node) bool {
			return q.additional != nil || len(q.patterns) > 0
		}) {
			rest.a = append(rest.a, p.unevalProps)
			rest.ptr = compatOr(rest.ptr, p.unevalProps.ptr)
		}
	}
	classes = append(classes, rest)
	for _, cl := range classes {
		if len(cl.a) > 0 && c.view(sideOf(cl.a...)).empty {
			continue
		}
		var b []*node
		for _, q := range vb.parts {
			same := false
			for _, qq := range q.patterns {
				switch {
				case cl.pattern != "" && qq.src == cl.pattern:
					same = true
					b = append(b, qq.node)
				case cl.pattern != "" && disjointPatterns(cl.pattern, qq.src):
				case cl.pattern == "" && slices.Contains(aPatterns, qq.src):
				default:
					b = append(b, qq.node)
				}
			}
			if q.additional != nil && !same {
				b = append(b, q.additional)
			}
		}
		for _, q := range vb.parts {
			if q.unevalProps != nil && !c.evaluated(q, true, func(n *node) bool {
				return n.additional != nil || cl.pattern != "" && slices.ContainsFunc(n.patterns, func(p compatPattern) bool { return p.src == cl.pattern })
			}) {
				b = append(b, q.unevalProps)
			}
		}
		b = slices.DeleteFunc(b, func(n *node) bool { return n.isTrue })
		if len(b) == 0 {
			continue
		}
		child := loc.child("*", cl.ptr, b[0].ptr)
		if c.view(sideOf(b...)).empty {
			aPtr := ""
			if cl.pattern != "" {
				aPtr = cl.ptr // A allows these names through a pattern
			}
			c.report(c.pick("object-closed", "object-opened"), child, aPtr, b[0].ptr, detail{parent: loc.field})
			continue
		}
		c.sub(sideOf(cl.a...), sideOf(b...), child)
	}
}

// disjointPatterns tells whether no name can match both patterns, from
// their anchored literal prefixes ("^i_" and "^n_" cannot both match).
func disjointPatterns(p, q string) bool {
	lp, lq := literalPrefix(p), literalPrefix(q)
	if lp == "" || lq == "" {
		return false
	}
	return !strings.HasPrefix(lp, lq) && !strings.HasPrefix(lq, lp)
}

func literalPrefix(p string) string {
	if !strings.HasPrefix(p, "^") {
		return ""
	}
	end := strings.IndexAny(p[1:], `\.+*?()|[]{}^$`)
	if end < 0 {
		return p[1:]
	}
	lit := p[1 : 1+end]
	if end > 0 && strings.ContainsAny(p[1+end:1+end+1], "*?{") {
		lit = lit[:len(lit)-1] // the last character is optional or repeated
	}
	return lit
}

func (c *checker) propertyCounts(va, vb *view, aReq map[string]string, loc compatLoc) {
	if vb.minProps > max(va.minProps, len(aReq)) {
		c.count("min-properties", true, va.minPropsSrc, vb.minPropsSrc, va.minProps, vb.minProps, "minProperties", "field", loc)
	}
	if vb.maxProps < 0 {
		return
	}
	aMax := va.maxProps
	if aMax < 0 || aMax > vb.maxProps {
		if n, ok := c.closedCount(va); ok && (aMax < 0 || n < aMax) {
			aMax = n
		}
	}
	if aMax < 0 || aMax > vb.maxProps {
		c.count("max-properties", false, va.maxPropsSrc, vb.maxPropsSrc, va.maxProps, vb.maxProps, "maxProperties", "field", loc)
	}
}

// closedCount is how many properties an object of a closed side can hold.
func (c *checker) closedCount(v *view) (int, bool) {
	names, ok := c.closedNames(v)
	return len(names), ok
}

// closedNames lists the only property names a side allows, if it is closed.
func (c *checker) closedNames(v *view) ([]string, bool) {
	closed := false
	for _, p := range v.parts {
		if len(p.patterns) > 0 {
			return nil, false
		}
		if p.additional != nil && p.additional.isFalse || p.unevalProps != nil && p.unevalProps.isFalse && !c.evaluated(p, false, func(q *node) bool {
			return q.additional != nil || len(q.patterns) > 0
		}) {
			closed = true
		}
	}
	if !closed {
		return nil, false
	}
	var names []string
	for _, p := range v.parts {
		for n := range p.props {
			if s, _, _ := c.propSchemas(v, n, false); !slices.Contains(names, n) && !(len(s) > 0 && c.view(sideOf(s...)).empty) {
				names = append(names, n)
			}
		}
	}
	return names, true
}

func (c *checker) propertyNames(va, vb *view, loc compatLoc) {
	for _, q := range vb.parts {
		if q.propertyNames == nil || q.propertyNames.isTrue {
			continue
		}
		var aPN []*node
		for _, p := range va.parts {
			if p.propertyNames != nil {
				aPN = append(aPN, p.propertyNames)
			}
		}
		if len(aPN) > 0 && c.fits(sideOf(append(aPN, typeNodes[ckString])...), sideOf(q.propertyNames), loc) {
			continue
		}
		if names, ok := c.closedNames(va); ok && !slices.ContainsFunc(names, func(n string) bool {
			r, _, _ := c.accepts(sideOf(q.propertyNames), n)
			return r != compatYes
		}) {
			continue
		}
		rule, aPtr := c.pick("property-names-added", "property-names-removed"), ""
		if len(aPN) > 0 {
			rule, aPtr = "property-names-changed", aPN[0].ptr
		}
		c.report(rule, loc, aPtr, q.propertyNames.ptr, detail{})
	}
}

// dependencies checks B's dependentRequired and dependentSchemas (draft-07's
// "dependencies"): whenever A allows the property, A must also guarantee
// what B then asks for.
func (c *checker) dependencies(a compatSide, va, vb *view, aReq map[string]string, loc compatLoc) {
	forbidden := func(name string) bool {
		s, _, _ := c.propSchemas(va, name, false)
		return len(s) > 0 && c.view(sideOf(s...)).empty
	}
	for _, q := range vb.parts {
		kw := q.depKw()
		for _, k := range sortedKeys(q.depReq) {
			if forbidden(k) {
				continue
			}
			var missing []string
			for _, l := range q.depReq[k] {
				_, always := aReq[l]
				if !always && !slices.ContainsFunc(va.parts, func(p *node) bool { return slices.Contains(p.depReq[k], l) }) {
					missing = append(missing, l)
				}
			}
			if len(missing) > 0 {
				c.report(c.pick("dependent-required-added", "dependent-required-removed"), loc, "",
					q.ptr+"/"+kw+"/"+esc(k), detail{name: k, names: missing})
			}
		}
		for _, k := range sortedKeys(q.depSchemas) {
			s := q.depSchemas[k]
			if forbidden(k) || c.fits(a, sideOf(s), loc) {
				continue
			}
			var aDep *node
			for _, p := range va.parts {
				if d := p.depSchemas[k]; d != nil && aDep == nil {
					aDep = d
				}
			}
			if aDep != nil && c.fits(a.with(aDep), sideOf(s), loc) {
				continue
			}
			rule, aPtr := c.pick("dependent-schema-added", "dependent-schema-removed"), ""
			if aDep != nil {
				rule, aPtr = "dependent-schema-changed", aDep.ptr
			}
			c.report(rule, loc, aPtr, s.ptr, detail{name: k})
		}
	}
}

func (n *node) depKw() string {
	if m, ok := n.raw.(map[string]any); ok {
		if _, has := m["dependentRequired"]; has {
			return "dependentRequired"
		}
	}
	return "dependencies"
}

// sortedKeys returns m's keys in order, in one allocation: the checker calls it
// for every object it fingerprints, where slices.Sorted(maps.Keys(m)) costs
// several.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

package compat

import "strconv"

// Arrays: each position an A-array may fill must be acceptable to B at that
// position (prefixItems, then items), and B's limits on the whole list must
// hold.

func (c *checker) arrays(va, vb *view, loc compatLoc) {
	aMax := c.arrayMax(va)
	n := 0
	for _, v := range []*view{va, vb} {
		for _, p := range v.parts {
			n = max(n, len(p.prefix))
		}
	}
	for i := 0; i < n && (aMax < 0 || i < aMax); i++ {
		if c.stopped() {
			return
		}
		if !c.item(va, vb, i, loc) {
			aMax = i
			break
		}
	}
	if aMax < 0 || aMax > n {
		c.item(va, vb, -1, loc)
	}
	if vb.minItems > max(va.minItems, 0) {
		c.count("min-items", true, va.minItemsSrc, vb.minItemsSrc, va.minItems, vb.minItems, "minItems", "entry", loc)
	}
	if vb.maxItems >= 0 && (aMax < 0 || aMax > vb.maxItems) {
		c.count("max-items", false, va.maxItemsSrc, vb.maxItemsSrc, va.maxItems, vb.maxItems, "maxItems", "entry", loc)
	}
	if vb.unique != nil && va.unique == nil && (aMax < 0 || aMax > 1) {
		c.report(c.pick("unique-items-added", "unique-items-removed"), loc, "", compatKw(vb.unique, "uniqueItems"), detail{})
	}
	for _, q := range vb.contains {
		c.containsCheck(va, q, loc)
	}
}

// arrayMax is the most entries an A-array can have, or -1 for no limit.
func (c *checker) arrayMax(v *view) int {
	m := v.maxItems
	for _, p := range v.parts {
		if p.items != nil && p.items.isFalse && (m < 0 || len(p.prefix) < m) {
			m = len(p.prefix)
		}
	}
	return m
}

// itemSchemas lists what the entry at index i must meet (i < 0: entries
// beyond every prefix). unevaluatedItems counts where nothing else in the
// same subschema could have looked at the entry; on side A only when that
// is certain, on side B whenever it may apply.
func (c *checker) itemSchemas(v *view, i int, strict bool) (nodes []*node, declared, src string) {
	for _, p := range v.parts {
		var s *node
		switch {
		case i >= 0 && i < len(p.prefix):
			s = p.prefix[i]
			declared = compatOr(declared, s.ptr)
		case p.items != nil:
			s = p.items
		case p.unevalItems != nil && (strict || len(p.allOf)+len(p.anyOf)+len(p.oneOf) == 0 && p.ref == nil && p.ifN == nil):
			s = p.unevalItems
		}
		if s != nil && !s.isTrue {
			nodes = append(nodes, s)
			src = compatOr(src, s.ptr)
		}
	}
	return nodes, declared, src
}

// item compares one position; it returns false when A cannot have an entry
// there (so none after it either).
func (c *checker) item(va, vb *view, i int, loc compatLoc) bool {
	c.step()
	aS, aDecl, aSrc := c.itemSchemas(va, i, false)
	bS, bDecl, bSrc := c.itemSchemas(vb, i, true)
	if len(aS) > 0 && c.view(sideOf(aS...)).empty {
		return false
	}
	seg := "[]"
	if i >= 0 {
		seg = "[" + strconv.Itoa(i) + "]"
	}
	child := loc.child(seg, aSrc, bSrc)
	if len(bS) == 0 {
		return true
	}
	bEmpty := c.view(sideOf(bS...)).empty
	d := detail{name: strconv.Itoa(i + 1), parent: loc.field}
	switch {
	case len(aS) == 0 && aDecl == "" && bDecl != "" && !bEmpty:
		c.report(c.pick("tuple-item-added-to-open-array", "tuple-item-removed-from-open-array"), child, "", bDecl, d)
	case bEmpty && bDecl == "" && aDecl != "":
		if c.forward {
			c.report("tuple-item-added-to-closed-array", child, aDecl, bSrc, d)
		} else {
			c.report("tuple-item-removed-from-closed-array", child, aDecl, "", d)
		}
	case bEmpty && bDecl == "":
		c.report(c.pick("array-closed", "array-opened"), child, "", bSrc, d)
	default:
		c.sub(sideOf(aS...), sideOf(bS...), child)
	}
	return true
}

// containsCheck checks one "contains" of B: A must promise at least as many
// matching entries, and for maxContains the very same rule.
func (c *checker) containsCheck(va *view, q *node, loc compatLoc) {
	minB := q.minContains
	if minB < 0 {
		minB = 1
	}
	if minB == 0 && q.maxContains < 0 {
		return
	}
	for _, p := range va.contains {
		minA := p.minContains
		if minA < 0 {
			minA = 1
		}
		same := p.contains.fingerprint() != "" && p.contains.fingerprint() == q.contains.fingerprint()
		if minA < minB {
			continue
		}
		if q.maxContains < 0 && (same || c.fits(sideOf(p.contains), sideOf(q.contains), loc)) {
			return
		}
		if same && p.maxContains >= 0 && p.maxContains <= q.maxContains {
			return
		}
	}
	rule, aPtr := c.pick("contains-added", "contains-removed"), ""
	if len(va.contains) > 0 {
		rule, aPtr = "contains-changed", compatKw(va.contains[0], "contains")
	}
	c.report(rule, loc, aPtr, compatKw(q, "contains"), detail{})
}

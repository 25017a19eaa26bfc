package compat

import (
	"strconv"
	"strings"
)

// Unions, negations and conditionals of side B: what A must fit is
// one of several options, or must stay clear of something, or depends on
// a condition. Proving those needs more than walking the keywords in
// step, so the checker tries A against each option in silence and keeps
// what fits.

// unions checks B's anyOf/oneOf: every value of A must fit one option, and
// for oneOf no other. It tries A whole, then one type at a time.
func (c *checker) unions(a compatSide, vb *view, common compatTypes, loc compatLoc) {
	for _, g := range vb.groups {
		if c.stopped() {
			return
		}
		if j := c.fitOption(a, g, loc); j >= 0 {
			c.exclusive(a, g, j, loc)
			continue
		}
		for t := compatTypes(1); t <= ckFrac; t <<= 1 {
			if common&t == 0 {
				continue
			}
			at := a.with(typeNodes[t])
			if c.view(at).empty {
				continue
			}
			if j := c.fitOption(at, g, loc); j >= 0 {
				c.exclusive(at, g, j, loc)
				continue
			}
			var cands []*node
			for _, br := range g.branches {
				if c.typesOf(br)&t != 0 && !c.disjoint(at, br, 0) {
					cands = append(cands, br)
				}
			}
			if len(cands) == 1 {
				// Only one option can take these values (by type, or by a
				// discriminator): its own reasons say more.
				l := loc
				l.bPtr = cands[0].ptr
				c.sub(at, sideOf(cands[0]), l)
				continue
			}
			rule := c.pick("any-of-branch-removed", "any-of-branch-added")
			if g.one {
				rule = c.pick("one-of-branch-removed", "one-of-branch-added")
			}
			c.report(rule, loc, loc.aPtr, compatKw(g.node, g.kw()), detail{lost: t, name: compatOption(loc.aPtr)})
		}
	}
}

// compatOption is the option number (from 1) when ptr is an anyOf/oneOf
// option, else "".
func compatOption(ptr string) string {
	i := strings.LastIndexByte(ptr, '/')
	if i < 0 || !strings.HasSuffix(ptr[:i], "/anyOf") && !strings.HasSuffix(ptr[:i], "/oneOf") {
		return ""
	}
	n, err := strconv.Atoi(ptr[i+1:])
	if err != nil {
		return ""
	}
	return strconv.Itoa(n + 1)
}

func (c *checker) fitOption(a compatSide, g compatGroup, loc compatLoc) int {
	for j, br := range g.branches {
		l := loc
		l.bPtr = br.ptr
		if c.fits(a, sideOf(br), l) {
			return j
		}
	}
	return -1
}

// exclusive checks that values of A which fit option j of a oneOf fit no
// other option, since oneOf refuses a value that matches two.
func (c *checker) exclusive(a compatSide, g compatGroup, j int, loc compatLoc) {
	if !g.one {
		return
	}
	for k, br := range g.branches {
		if k != j && !c.disjoint(a, br, 0) {
			c.report("one-of-ambiguous", loc, loc.aPtr, compatKw(g.node, "oneOf"), detail{})
			return
		}
	}
}

// disjoint tells whether no value of side a is valid under n, from what can
// be shown cheaply: types, finite values, a property both must have with
// values apart (a discriminator), A's own "not", or A's oneOf options.
func (c *checker) disjoint(a compatSide, n *node, depth int) bool {
	c.step()
	va, vn := c.view(a), c.view(sideOf(n))
	if va.empty || vn.empty || va.types&vn.types == 0 {
		return true
	}
	if depth > 3 || c.stopped() {
		return false
	}
	if c.refusesAll(a, va, sideOf(n)) || c.refusesAll(sideOf(n), vn, a) {
		return true
	}
	if va.types&vn.types == ckObject {
		ra, rn := c.requiredOf(va), c.requiredOf(vn)
		for _, req := range []map[string]string{ra, rn} {
			for name := range req {
				// Both read loosely: what each side may hold there, at most.
				as, _, _ := c.propSchemas(va, name, false)
				ns, _, _ := c.propSchemas(vn, name, false)
				if len(as) > 0 && len(ns) > 0 && c.disjointSides(sideOf(as...), sideOf(ns...), depth+1) {
					return true
				}
			}
		}
	}
	for _, p := range va.nots {
		if c.fits(sideOf(n), sideOf(p.not), compatLoc{}) {
			return true
		}
	}
	for _, p := range a.picks {
		if !p.one || p.branch < 0 {
			continue
		}
		for i, br := range p.node.oneOf {
			if i != p.branch && c.fits(sideOf(n), sideOf(br), compatLoc{}) {
				return true
			}
		}
	}
	return false
}

func (c *checker) disjointSides(a, b compatSide, depth int) bool {
	if len(b.nodes) == 1 && len(b.picks) == 0 {
		return c.disjoint(a, b.nodes[0], depth)
	}
	va, vb := c.view(a), c.view(b)
	return va.types&vb.types == 0 || c.refusesAll(a, va, b) || c.refusesAll(b, vb, a)
}

// refusesAll tells whether x has finitely many values and y refuses each.
func (c *checker) refusesAll(x compatSide, vx *view, y compatSide) bool {
	vals, ok := c.finite(x, vx, vx.types)
	if !ok {
		return false
	}
	for _, v := range vals {
		if r, _, _ := c.accepts(y, v); r != compatNo {
			return false
		}
	}
	return true
}

// negations checks B's "not": A must share no value with what it forbids.
func (c *checker) negations(a compatSide, va, vb *view, loc compatLoc) {
	for _, p := range vb.nots {
		if c.disjoint(a, p.not, 0) {
			continue
		}
		aPtr, rule := "", c.pick("not-added", "not-removed")
		if len(va.nots) > 0 {
			aPtr, rule = compatKw(va.nots[0], "not"), "not-changed"
		}
		c.report(rule, loc, aPtr, compatKw(p, "not"), detail{})
	}
}

// conditionals checks B's if/then/else: A must meet the branch that applies.
func (c *checker) conditionals(a compatSide, va, vb *view, loc compatLoc) {
	for _, p := range vb.conds {
		if c.condMet(a, va, p, loc) {
			continue
		}
		aPtr, rule := "", c.pick("conditional-added", "conditional-removed")
		if len(va.conds) > 0 {
			aPtr, rule = compatKw(va.conds[0], "if"), "conditional-changed"
		}
		c.report(rule, loc, aPtr, compatKw(p, "if"), detail{})
	}
}

func (c *checker) condMet(a compatSide, va *view, p *node, loc compatLoc) bool {
	fp := func(n *node) string {
		if n == nil {
			return "-"
		}
		return n.fingerprint()
	}
	meets := func(n *node) bool { return n == nil || c.fits(a, sideOf(n), loc) }
	for _, q := range va.conds {
		// The same condition in A: each branch of A must fit B's branch.
		if f := fp(q.ifN); f == "" || f != fp(p.ifN) {
			continue
		}
		branch := func(an, bn *node) bool {
			return bn == nil || an != nil && c.fits(a.with(an), sideOf(bn), loc) || meets(bn)
		}
		if branch(q.thenN, p.thenN) && branch(q.elseN, p.elseN) {
			return true
		}
	}
	switch {
	case meets(p.thenN) && meets(p.elseN):
		return true
	case c.fits(a, sideOf(p.ifN), loc):
		return meets(p.thenN)
	case c.disjoint(a, p.ifN, 0):
		return meets(p.elseN)
	}
	return false
}

// unsupported reports B's keywords the checker cannot reason about, unless
// A has the very same subschema.
func (c *checker) unsupported(va, vb *view, loc compatLoc) {
	for _, p := range vb.unsupported {
		same := false
		for _, q := range va.parts {
			if f := q.fingerprint(); f != "" && f == p.fingerprint() {
				same = true
				break
			}
		}
		if same {
			continue
		}
		if p.refExternal != "" {
			c.report("external-ref", loc, "", compatKw(p, "$ref"), detail{name: p.refExternal})
			continue
		}
		c.report("unsupported-keyword", loc, "", compatKw(p, p.unsupported[0]), detail{name: p.unsupported[0]})
	}
}

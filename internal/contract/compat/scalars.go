package compat

import (
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// Numbers and strings: B's limits must hold for every value A allows.

func (c *checker) numbers(va, vb *view, common compatTypes, loc compatLoc) {
	whole := common&ckFrac == 0 // only whole numbers are in play: 0.5 is no counterexample
	if vb.lo.set && !(va.lo.set && within(va.lo, vb.lo, whole, true)) {
		c.bound("minimum", true, va, vb, loc)
	}
	if vb.hi.set && !(va.hi.set && within(va.hi, vb.hi, whole, false)) {
		c.bound("maximum", false, va, vb, loc)
	}
	for _, m := range vb.mults {
		if whole && compatMultiple(big.NewRat(1, 1), m.multipleOf) {
			continue
		}
		ok := false
		for _, p := range va.mults {
			ok = ok || compatMultiple(p.multipleOf, m.multipleOf)
		}
		if ok {
			continue
		}
		rule, aPtr, aTxt := c.pick("multiple-of-added", "multiple-of-removed"), "", ""
		if len(va.mults) > 0 {
			rule, aPtr, aTxt = "multiple-of-changed", compatKw(va.mults[0], "multipleOf"), va.mults[0].multLit
		}
		d := detail{limit: m.multLit}
		d.was, d.now = c.wasNow(aTxt, d.limit)
		c.report(rule, loc, aPtr, compatKw(m, "multipleOf"), d)
	}
}

// within tells whether bound a (of A) is at least as tight as bound b
// (of B); when only whole numbers are in play, a is first rounded to the
// whole number it really allows ("more than 0" is "at least 1").
func within(a, b compatBound, whole, lower bool) bool {
	if whole {
		a = wholeBound(a, lower)
	}
	return !tighterBound(b, a, lower)
}

func wholeBound(b compatBound, lower bool) compatBound {
	q := new(big.Int).Div(b.r.Num(), b.r.Denom()) // floor: Denom is positive
	if lower && (!b.r.IsInt() || b.excl) {
		q.Add(q, big.NewInt(1))
	}
	if !lower && b.r.IsInt() && b.excl {
		q.Sub(q, big.NewInt(1))
	}
	return compatBound{r: new(big.Rat).SetInt(q), lit: q.String(), set: true}
}

// compatMultiple tells whether x is a multiple of m (every multiple of x,
// then, is one of m), exactly as the validator decides it.
func compatMultiple(x, m *big.Rat) bool {
	return new(big.Rat).Quo(x, m).IsInt()
}

func (c *checker) bound(kind string, lower bool, va, vb *view, loc compatLoc) {
	aSrc, bSrc, ab, bb := va.hiSrc, vb.hiSrc, va.hi, vb.hi
	if lower {
		aSrc, bSrc, ab, bb = va.loSrc, vb.loSrc, va.lo, vb.lo
	}
	aTxt, aPtr := "", ""
	if aSrc != nil {
		aTxt, aPtr = boundText(ab, lower), compatKw(aSrc, aSrc.boundKw(lower))
	}
	d := detail{limit: boundText(bb, lower), outside: outsideText(bb, lower)}
	d.was, d.now = c.wasNow(aTxt, d.limit)
	c.report(c.boundRule(kind, lower, aSrc != nil), loc, aPtr, compatKw(bSrc, bSrc.boundKw(lower)), d)
}

// boundRule names a limit that B sets and A does not meet, as the change from
// the earlier version to the new one.
func (c *checker) boundRule(kind string, lower, aHas bool) string {
	if !aHas {
		return c.pick(kind+"-added", kind+"-removed")
	}
	if lower != c.forward { // a lower limit raised, or an upper one lowered, in the new version
		return kind + "-increased"
	}
	return kind + "-decreased"
}

func (n *node) boundKw(lower bool) string {
	m, _ := n.raw.(map[string]any)
	kw, excl, b := "maximum", "exclusiveMaximum", n.hi
	if lower {
		kw, excl, b = "minimum", "exclusiveMinimum", n.lo
	}
	if _, isNum := num(m[excl]); isNum && b.excl {
		return excl
	}
	return kw
}

func boundText(b compatBound, lower bool) string {
	switch {
	case lower && b.excl:
		return "more than " + b.lit
	case lower:
		return "at least " + b.lit
	case b.excl:
		return "less than " + b.lit
	}
	return "at most " + b.lit
}

func outsideText(b compatBound, lower bool) string {
	switch {
	case lower && b.excl:
		return "of " + b.lit + " or less"
	case lower:
		return "below " + b.lit
	case b.excl:
		return "of " + b.lit + " or more"
	}
	return "above " + b.lit
}

// count reports a limit on a count (characters, entries, fields) that B sets
// and A does not meet.
func (c *checker) count(kind string, lower bool, aSrc, bSrc *node, aVal, bVal int, kw, unit string, loc compatLoc) {
	aTxt, aPtr := "", ""
	if aSrc != nil {
		aTxt, aPtr = countText(aVal, lower, unit), compatKw(aSrc, kw)
	}
	d := detail{limit: countText(bVal, lower, unit)}
	if lower {
		d.outside = "fewer than " + units(bVal, unit)
	} else {
		d.outside = "more than " + units(bVal, unit)
	}
	d.was, d.now = c.wasNow(aTxt, d.limit)
	c.report(c.boundRule(kind, lower, aSrc != nil), loc, aPtr, compatKw(bSrc, kw), d)
}

func countText(n int, lower bool, unit string) string {
	if lower {
		return "at least " + units(n, unit)
	}
	return "at most " + units(n, unit)
}

func units(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	if strings.HasSuffix(unit, "y") {
		return strconv.Itoa(n) + " " + unit[:len(unit)-1] + "ies"
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

func (c *checker) strings(va, vb *view, loc compatLoc) {
	if vb.minLen > max(va.minLen, 0) {
		c.count("min-length", true, va.minLenSrc, vb.minLenSrc, va.minLen, vb.minLen, "minLength", "character", loc)
	}
	if vb.maxLen >= 0 && (va.maxLen < 0 || va.maxLen > vb.maxLen) {
		c.count("max-length", false, va.maxLenSrc, vb.maxLenSrc, va.maxLen, vb.maxLen, "maxLength", "character", loc)
	}
	for _, pb := range vb.patterns {
		if trivialPattern[pb.pattern] || slices.ContainsFunc(va.patterns, func(p *node) bool { return p.pattern == pb.pattern }) {
			continue
		}
		// Whether one regular expression accepts less than another is not
		// something to decide here: only an identical pattern is known to fit.
		rule, aPtr, aTxt := c.pick("pattern-added", "pattern-removed"), "", ""
		if len(va.patterns) > 0 {
			rule, aPtr, aTxt = "pattern-changed", compatKw(va.patterns[0], "pattern"), va.patterns[0].pattern
		}
		d := detail{limit: pb.pattern}
		d.was, d.now = c.wasNow(aTxt, pb.pattern)
		c.report(rule, loc, aPtr, compatKw(pb, "pattern"), d)
	}
	for _, fb := range vb.formats {
		if slices.ContainsFunc(va.formats, func(p *node) bool { return p.format == fb.format }) {
			continue
		}
		rule, aPtr, aTxt := c.pick("format-added", "format-removed"), "", ""
		if len(va.formats) > 0 {
			rule, aPtr, aTxt = "format-changed", compatKw(va.formats[0], "format"), va.formats[0].format
		}
		d := detail{limit: fb.format}
		d.was, d.now = c.wasNow(aTxt, fb.format)
		c.report(rule, loc, aPtr, compatKw(fb, "format"), d)
	}
}

// trivialPattern lists patterns every string matches.
// "^.*$" is not among them: "." stops at a line break.
var trivialPattern = map[string]bool{"": true, ".*": true, "^.*": true, ".*$": true, "[\\s\\S]*": true}

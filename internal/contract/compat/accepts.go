package compat

import (
	"net/netip"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// accepts validates one value against a side. The checker needs it when a
// side has finitely many values (an enum, a const, booleans): then "does A
// fit B" is "does B accept each of them". It answers yes, no or maybe: maybe
// where it cannot be sure (a pattern Go cannot compile, a format it does not
// know, a keyword it does not model), which the caller treats as no.

type compatVerdict int8

const (
	compatNo compatVerdict = iota
	compatMaybe
	compatYes
)

// accepts returns the verdict and, unless yes, the subschema and keyword
// that refuse the value.
func (c *checker) accepts(s compatSide, v any) (compatVerdict, *node, string) {
	res, at, kw := compatYes, (*node)(nil), ""
	for _, n := range s.nodes {
		r, rn, rkw := c.validate(n, v, 0)
		if r == compatNo {
			return r, rn, rkw
		}
		if r == compatMaybe && res == compatYes {
			res, at, kw = r, rn, rkw
		}
	}
	return res, at, kw
}

func (c *checker) validate(n *node, v any, depth int) (compatVerdict, *node, string) {
	c.step()
	switch {
	case c.over:
		return compatMaybe, n, "too-complex"
	case n.isFalse:
		return compatNo, n, "false"
	case n.isTrue:
		return compatYes, nil, ""
	}
	key := [2]uint64{n.id, uint64(depth)}
	if c.vstack[key] {
		return compatMaybe, n, "$ref" // a loop that does not go into the value
	}
	c.vstack[key] = true
	defer delete(c.vstack, key)

	t := typeOf(v)
	if n.hasType && n.types&t == 0 {
		return compatNo, n, "type"
	}
	if n.hasEnum && !n.enumKeys[compatKey(v)] {
		return compatNo, n, n.enumKw()
	}
	acc := compatAcc{res: compatYes}
	if n.refExternal != "" || len(n.unsupported) > 0 {
		acc.add(compatMaybe, n, "$ref")
	}
	if n.ref != nil {
		acc.add(c.validate(n.ref, v, depth))
	}
	switch t {
	case ckInt, ckFrac:
		c.validateNumber(n, v, &acc)
	case ckString:
		c.validateString(n, v.(string), &acc)
	case ckObject:
		c.validateObject(n, v.(map[string]any), depth, &acc)
	case ckArray:
		c.validateArray(n, v.([]any), depth, &acc)
	}
	for _, a := range n.allOf {
		acc.add(c.validate(a, v, depth))
	}
	if len(n.anyOf) > 0 {
		best := compatNo
		for _, a := range n.anyOf {
			r, _, _ := c.validate(a, v, depth)
			best = max(best, r)
		}
		acc.add(best, n, "anyOf")
	}
	if len(n.oneOf) > 0 {
		yes, maybe := 0, 0
		for _, a := range n.oneOf {
			switch r, _, _ := c.validate(a, v, depth); r {
			case compatYes:
				yes++
			case compatMaybe:
				maybe++
			}
		}
		switch {
		case yes > 1 || yes+maybe == 0:
			acc.add(compatNo, n, "oneOf")
		case maybe > 0:
			acc.add(compatMaybe, n, "oneOf")
		}
	}
	if n.not != nil {
		r, _, _ := c.validate(n.not, v, depth)
		acc.add(compatYes-r, n, "not") // yes <-> no, maybe stays
	}
	if n.ifN != nil {
		r, _, _ := c.validate(n.ifN, v, depth)
		then, els := compatVerdict(compatYes), compatVerdict(compatYes)
		if n.thenN != nil && r != compatNo {
			then, _, _ = c.validate(n.thenN, v, depth)
		}
		if n.elseN != nil && r != compatYes {
			els, _, _ = c.validate(n.elseN, v, depth)
		}
		acc.add(min(then, els), n, "if")
	}
	return acc.res, acc.at, acc.kw
}

// compatAcc accumulates verdicts: the first no wins, then the first maybe.
type compatAcc struct {
	res compatVerdict
	at  *node
	kw  string
}

func (a *compatAcc) add(r compatVerdict, n *node, kw string) {
	if r < a.res {
		a.res, a.at, a.kw = r, n, kw
	}
}

func (c *checker) validateNumber(n *node, v any, acc *compatAcc) {
	r, ok := rat(v)
	if !ok {
		acc.add(compatMaybe, n, "type") // too long to compare exactly
		return
	}
	if n.lo.set && tighterBound(n.lo, compatBound{r: r}, true) {
		acc.add(compatNo, n, n.boundKw(true))
	}
	if n.hi.set && tighterBound(n.hi, compatBound{r: r}, false) {
		acc.add(compatNo, n, n.boundKw(false))
	}
	if n.multipleOf != nil && !compatMultiple(r, n.multipleOf) {
		acc.add(compatNo, n, "multipleOf")
	}
}

func (c *checker) validateString(n *node, s string, acc *compatAcc) {
	l := utf8.RuneCountInString(s)
	if n.minLength >= 0 && l < n.minLength {
		acc.add(compatNo, n, "minLength")
	}
	if n.maxLength >= 0 && l > n.maxLength {
		acc.add(compatNo, n, "maxLength")
	}
	if n.hasPattern {
		switch {
		case n.re == nil:
			acc.add(compatMaybe, n, "pattern")
		case !n.re.MatchString(s):
			acc.add(compatNo, n, "pattern")
		}
	}
	if n.format != "" {
		acc.add(compatFormat(n.format, s), n, "format")
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// compatFormat checks the formats it can check exactly; maybe for the rest.
func compatFormat(format, s string) compatVerdict {
	ok := false
	switch format {
	case "date":
		_, err := time.Parse("2006-01-02", s)
		ok = err == nil
	case "date-time":
		_, err := time.Parse(time.RFC3339, s)
		ok = err == nil
	case "uuid":
		ok = uuidPattern.MatchString(s)
	case "ipv4", "ipv6":
		a, err := netip.ParseAddr(s)
		ok = err == nil && a.Zone() == "" && (format == "ipv4") == a.Is4()
	default:
		return compatMaybe
	}
	if ok {
		return compatYes
	}
	return compatMaybe // a stricter reading than the validator's must not turn into a no
}

func (c *checker) validateObject(n *node, m map[string]any, depth int, acc *compatAcc) {
	for _, r := range n.required {
		if _, ok := m[r]; !ok {
			acc.add(compatNo, n, "required")
		}
	}
	if n.minProps >= 0 && len(m) < n.minProps {
		acc.add(compatNo, n, "minProperties")
	}
	if n.maxProps >= 0 && len(m) > n.maxProps {
		acc.add(compatNo, n, "maxProperties")
	}
	for name, val := range m {
		if acc.res == compatNo || c.over {
			return
		}
		evaluated := false
		if s, ok := n.props[name]; ok {
			acc.add(c.validate(s, val, depth+1))
			evaluated = true
		}
		for _, pp := range n.patterns {
			switch {
			case pp.re == nil:
				acc.add(compatMaybe, n, "patternProperties")
			case pp.re.MatchString(name):
				acc.add(c.validate(pp.node, val, depth+1))
				evaluated = true
			}
		}
		if !evaluated && n.additional != nil {
			acc.add(c.validate(n.additional, val, depth+1))
			evaluated = true
		}
		if !evaluated && n.unevalProps != nil {
			r, at, kw := c.validate(n.unevalProps, val, depth+1)
			if r != compatYes && !c.evaluated(n, true, func(q *node) bool {
				if q == n {
					return false
				}
				_, listed := q.props[name]
				return listed || q.additional != nil || slices.ContainsFunc(q.patterns, func(p compatPattern) bool {
					return p.re == nil || p.re.MatchString(name)
				})
			}) {
				if len(n.anyOf)+len(n.oneOf) > 0 || n.ifN != nil || len(n.depSchemas) > 0 {
					r = compatMaybe // an option that matched may have looked at it
				}
				acc.add(r, at, kw)
			}
		}
		if n.propertyNames != nil {
			acc.add(c.validate(n.propertyNames, name, depth+1))
		}
		if deps, ok := n.depReq[name]; ok {
			for _, d := range deps {
				if _, has := m[d]; !has {
					acc.add(compatNo, n, "dependentRequired")
				}
			}
		}
		if s, ok := n.depSchemas[name]; ok {
			acc.add(c.validate(s, m, depth))
		}
	}
}

func (c *checker) validateArray(n *node, list []any, depth int, acc *compatAcc) {
	if n.minItems >= 0 && len(list) < n.minItems {
		acc.add(compatNo, n, "minItems")
	}
	if n.maxItems >= 0 && len(list) > n.maxItems {
		acc.add(compatNo, n, "maxItems")
	}
	if n.unique {
		seen := map[string]bool{}
		for _, e := range list {
			k := compatKey(e)
			if seen[k] {
				acc.add(compatNo, n, "uniqueItems")
				break
			}
			seen[k] = true
		}
	}
	for i, e := range list {
		if acc.res == compatNo || c.over {
			return
		}
		switch {
		case i < len(n.prefix):
			acc.add(c.validate(n.prefix[i], e, depth+1))
		case n.items != nil:
			acc.add(c.validate(n.items, e, depth+1))
		case n.unevalItems != nil:
			r, at, kw := c.validate(n.unevalItems, e, depth+1)
			if r == compatNo && (len(n.allOf)+len(n.anyOf)+len(n.oneOf) > 0 || n.ref != nil || n.ifN != nil || n.contains != nil) {
				r = compatMaybe // a neighbouring subschema may have looked at it
			}
			acc.add(r, at, kw)
		}
	}
	if n.contains != nil {
		yes, maybe := 0, 0
		for _, e := range list {
			switch r, _, _ := c.validate(n.contains, e, depth+1); r {
			case compatYes:
				yes++
			case compatMaybe:
				maybe++
			}
		}
		minC, maxC := n.minContains, n.maxContains
		if minC < 0 {
			minC = 1
		}
		switch {
		case yes+maybe < minC || maxC >= 0 && yes > maxC:
			acc.add(compatNo, n, "contains")
		case yes < minC || maxC >= 0 && yes+maybe > maxC:
			acc.add(compatMaybe, n, "contains")
		}
	}
}

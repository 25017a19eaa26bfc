package compat

// The checker answers one question, "is every value valid under A also valid
// under B?", by walking both schemas together. BACKWARD asks it with A the
// earlier version and B the new one, FORWARD the other way round. Each
// reason it finds becomes an Issue named after the change from the earlier
// version to the new one, whichever side that is.
//
// It is sound and, where it cannot decide, conservative: every shortcut
// either drops a constraint of A (A only grows) or keeps every constraint of
// B. Work is bounded by a step budget, so no input makes it loop or run long.

const (
	compatBudget = 100_000 // steps per comparison of two versions: about 75 ms at worst
	maxIssues    = 100
	maxSplits    = 64 // cases when A's unions are split
)

type checker struct {
	lenient bool
	forward bool // A is the new schema

	steps  int
	budget int
	over   bool // the budget is spent
	silent int  // > 0 while trying whether something fits
	failed bool // a trial found a problem

	issues    []Issue
	seen      map[string]bool
	views     map[string]*view
	active    map[string]int // comparisons in progress, with their depth in the event
	vstack    map[[2]uint64]bool
	typeDepth int
}

func newChecker(lenient, forward bool) *checker {
	return &checker{lenient: lenient, forward: forward, budget: compatBudget, seen: map[string]bool{},
		views: map[string]*view{}, active: map[string]int{}, vstack: map[[2]uint64]bool{}}
}

// run lists why values valid under a are not all valid under b. When the
// budget runs out the answer cannot be trusted either way, so it says so.
func (c *checker) run(a, b *compatDoc) []Issue {
	root := compatLoc{aPtr: "#", bPtr: "#"}
	c.sub(sideOf(a.root), sideOf(b.root), root)
	if c.over {
		c.silent = 0
		c.tooComplex(root)
	}
	return c.issues
}

// compatLoc is where a comparison stands: the place in the event (for the
// wording) and the subschemas on each side (for pointers).
type compatLoc struct {
	field      string // "" is the whole event; "a.b", "a[]", "a[0]", "a.*"
	depth      int    // nesting in the event
	aPtr, bPtr string // the subschemas: "#" for a document's root, "" where a side has none
	// aAll is A's types before its unions were split into options, so that
	// an option's type is named as a narrowing of the whole, not a change.
	aAll compatTypes
}

func (l compatLoc) child(seg string, aPtr, bPtr string) compatLoc {
	f := seg
	if l.field != "" && seg != "" && seg[0] == '[' {
		f = l.field + seg
	} else if l.field != "" {
		f = l.field + "." + seg
	}
	return compatLoc{field: f, depth: l.depth + 1, aPtr: aPtr, bPtr: bPtr}
}

func (c *checker) step() {
	c.steps++
	if c.steps > c.budget {
		c.over = true
	}
}

func (c *checker) stopped() bool { return c.over || c.silent > 0 && c.failed }

// fits tries whether a fits b without reporting anything.
func (c *checker) fits(a, b compatSide, loc compatLoc) bool {
	saved := c.failed
	c.silent++
	c.failed = false
	c.sub(a, b, loc)
	ok := !c.failed && !c.over
	c.silent--
	c.failed = saved
	return ok
}

// wasNow orders two texts, one from each side, as earlier and new.
func (c *checker) wasNow(a, b string) (was, now string) {
	if c.forward {
		return b, a
	}
	return a, b
}

// pick chooses between a rule named for a change that tightens the new
// version (B new) and the rule for the same difference seen from the other
// side (B earlier).
func (c *checker) pick(ifBNew, ifBOld string) string {
	if c.forward {
		return ifBOld
	}
	return ifBNew
}

// report records an issue; aPtr and bPtr are where it is in each schema,
// "" where it is not there at all.
func (c *checker) report(rule string, loc compatLoc, aPtr, bPtr string, d detail) {
	if c.silent > 0 {
		c.failed = true
		return
	}
	newPtr, oldPtr := bPtr, aPtr
	if c.forward {
		newPtr, oldPtr = aPtr, bPtr
	}
	ptr := newPtr
	if ptr == "" {
		ptr = oldPtr
	}
	if ptr == "" {
		ptr = "#"
	}
	key := rule + "\x00" + ptr + "\x00" + loc.field
	if c.seen[key] || len(c.issues) >= maxIssues {
		return
	}
	c.seen[key] = true
	msg, fix := explain(rule, c.forward, loc.field, d)
	c.issues = append(c.issues, Issue{Pointer: ptr, Rule: rule, Message: msg, Fix: fix})
}

func compatKw(n *node, kw string) string {
	if n == nil {
		return ""
	}
	return n.ptr + "/" + kw
}

// sub reports why some value valid under a is not valid under b.
func (c *checker) sub(a, b compatSide, loc compatLoc) {
	if c.stopped() {
		return
	}
	c.step()
	va := c.view(a)
	if va.empty || trivial(c.view(b)) || compatSame(a, b) {
		return
	}
	if loc.depth > maxDepth || c.over {
		c.tooComplex(loc)
		return
	}
	key := a.key() + "/" + b.key()
	if d, ok := c.active[key]; ok {
		if d < loc.depth {
			// The same question about a smaller part of the event: by
			// induction on the event's size it holds if the outer one does.
			return
		}
		c.tooComplex(loc)
		return
	}
	c.active[key] = loc.depth
	defer delete(c.active, key)
	if len(va.groups) > 0 {
		c.splitA(a, b, va, loc)
		return
	}
	c.compare(a, b, va, c.view(b), loc)
}

func (c *checker) tooComplex(loc compatLoc) {
	c.report("too-complex", loc, loc.aPtr, loc.bPtr, detail{})
}

// trivial tells whether a side accepts every value.
func trivial(v *view) bool {
	if len(v.groups) > 0 {
		return false
	}
	for _, p := range v.parts {
		if !p.isTrue && !p.wrapperOnly() {
			return false
		}
	}
	return true
}

// wrapperOnly is true for a subschema that only combines others with $ref or
// allOf (which the view has flattened) and annotations.
func (n *node) wrapperOnly() bool {
	m, ok := n.raw.(map[string]any)
	if !ok || n.refExternal != "" || len(n.unsupported) > 0 {
		return false
	}
	for k := range m {
		if k != "$ref" && k != "allOf" && !compatAnnotations[k] {
			return false
		}
	}
	return true
}

// compatSame tells whether two sides are the same schema.
func compatSame(a, b compatSide) bool {
	if len(a.nodes) != 1 || len(b.nodes) != 1 || len(a.picks) > 0 || len(b.picks) > 0 {
		return false
	}
	fa := a.nodes[0].fingerprint()
	return fa != "" && fa == b.nodes[0].fingerprint()
}

// splitA checks A's anyOf/oneOf one option at a time: A fits B when each of
// its options does. Too many combinations leave A's unions out instead,
// which widens A and so keeps the answer sound.
func (c *checker) splitA(a, b compatSide, va *view, loc compatLoc) {
	combos := 1
	for _, g := range va.groups {
		combos *= len(g.branches)
		if combos > maxSplits {
			break
		}
	}
	if combos > maxSplits || len(a.picks) > 8 {
		for _, g := range va.groups {
			a = a.pick(compatPick{node: g.node, one: g.one, branch: -1})
		}
		c.sub(a, b, loc)
		return
	}
	g := va.groups[0]
	if loc.aAll == 0 {
		loc.aAll = va.types
	}
	for i, br := range g.branches {
		l := loc
		l.aPtr = br.ptr
		c.sub(a.pick(compatPick{node: g.node, one: g.one, branch: i}), b, l)
	}
}

func (c *checker) compare(a, b compatSide, va, vb *view, loc compatLoc) {
	if vb.empty {
		c.report(c.pick("now-forbidden", "no-longer-forbidden"), loc, loc.aPtr, loc.bPtr, detail{})
		return
	}
	ta, tb := va.types, vb.types
	if lost := ta &^ tb; lost != 0 {
		c.typeIssue(va, vb, lost, loc)
	}
	common := ta & tb
	if common == 0 {
		return
	}
	if vals, ok := c.finite(a, va, common); ok {
		c.values(b, va, vals, loc)
		return
	}
	if vb.enum != nil {
		rule := c.pick("enum-added", "enum-removed")
		if vb.enum.isConst {
			rule = c.pick("const-added", "const-removed")
		}
		c.report(rule, loc, "", compatKw(vb.enum, vb.enum.enumKw()), detail{values: c.allowed(b, vb.enum.enum)})
		return
	}
	if common&ckNumber != 0 {
		c.numbers(va, vb, common, loc)
	}
	if common&ckString != 0 {
		c.strings(va, vb, loc)
	}
	if common&ckObject != 0 {
		c.objects(a, va, vb, loc)
	}
	if common&ckArray != 0 {
		c.arrays(va, vb, loc)
	}
	if common != ta {
		a = a.with(typeNodes[common])
	}
	c.unions(a, vb, common, loc)
	c.negations(a, va, vb, loc)
	c.conditionals(a, va, vb, loc)
	c.unsupported(va, vb, loc)
}

func (n *node) enumKw() string {
	if n.isConst {
		return "const"
	}
	return "enum"
}

// typeNodes holds a synthetic subschema per type set, used to look at
// one type of a side at a time.
var typeNodes = func() (out [ckAll + 1]*node) {
	doc := &compatDoc{nodes: map[string]*node{}}
	for t := range out {
		out[t] = &node{doc: doc, raw: map[string]any{}, hasType: true, types: compatTypes(t),
			id: nodeIDs.Add(1), fpDone: true, minLength: -1, maxLength: -1, minProps: -1, maxProps: -1,
			minItems: -1, maxItems: -1, minContains: -1, maxContains: -1}
	}
	return out
}()

func (c *checker) typeIssue(va, vb *view, lost compatTypes, loc compatLoc) {
	common := va.types & vb.types
	if loc.aAll != 0 {
		common = loc.aAll & vb.types
	}
	var rule string
	switch {
	case lost == ckNull:
		rule = c.pick("null-removed", "null-added")
	case common == 0:
		rule = "type-changed"
	default:
		rule = c.pick("type-narrowed", "type-widened")
	}
	was, now := va.types, vb.types
	if c.forward {
		was, now = vb.types, va.types
	}
	c.report(rule, loc, c.typePtr(va), c.typePtr(vb), detail{lost: lost, wasT: was, nowT: now})
}

// typePtr points at what decides a side's types.
func (c *checker) typePtr(v *view) string {
	switch {
	case v.typeSrc != nil:
		return compatKw(v.typeSrc, "type")
	case v.enum != nil:
		return compatKw(v.enum, v.enum.enumKw())
	case len(v.groups) > 0:
		return compatKw(v.groups[0].node, v.groups[0].kw())
	}
	return "" // no keyword decides it here: point into the other schema
}

// finite lists A's values when there are finitely many (an enum or const, or
// only null and booleans), restricted to the types both sides allow.
func (c *checker) finite(a compatSide, va *view, common compatTypes) ([]any, bool) {
	var cands []any
	switch {
	case va.enum != nil:
		cands = va.enum.enum
	case common&^(ckNull|ckBool) == 0:
		cands = []any{nil, false, true}
	default:
		return nil, false
	}
	out := make([]any, 0, len(cands))
	for _, v := range cands {
		if typeOf(v)&common == 0 {
			continue
		}
		if r, _, _ := c.accepts(a, v); r != compatNo {
			out = append(out, v)
		}
		if c.over {
			return nil, false
		}
	}
	return out, true
}

// values checks each of A's finitely many values against B.
func (c *checker) values(b compatSide, va *view, vals []any, loc compatLoc) {
	type refusal struct {
		node   *node
		kw     string
		values []any
	}
	var enumBad, otherBad refusal
	for _, v := range vals {
		r, n, kw := c.accepts(b, v)
		if r == compatYes {
			continue
		}
		if n == nil && len(b.nodes) > 0 {
			n = b.nodes[0]
		}
		if n == nil {
			continue // no B to refuse it
		}
		into := &otherBad
		if kw == "enum" || kw == "const" {
			into = &enumBad
		}
		if into.node == nil {
			into.node, into.kw = n, kw
		}
		into.values = append(into.values, v)
	}
	aPtr := ""
	if va.enum != nil {
		aPtr = compatKw(va.enum, va.enum.enumKw())
	}
	if enumBad.node != nil {
		var rule string
		switch {
		case va.enum != nil && va.enum.isConst && enumBad.node.isConst:
			rule = "const-changed"
		case va.enum != nil:
			rule = c.pick("enum-value-removed", "enum-value-added")
		case enumBad.node.isConst:
			rule = c.pick("const-added", "const-removed")
		default:
			rule = c.pick("enum-added", "enum-removed")
		}
		d := detail{values: enumBad.values}
		if va.enum != nil && va.enum.isConst && enumBad.node.isConst {
			d.was, d.now = c.wasNow(valueText(va.enum.enum[0]), valueText(enumBad.node.enum[0]))
		} else if va.enum == nil {
			d.values, d.bad = c.allowed(b, enumBad.node.enum), enumBad.values
		}
		c.report(rule, loc, aPtr, compatKw(enumBad.node, enumBad.kw), d)
	}
	if otherBad.node != nil {
		c.report("value-refused", loc, aPtr, compatKw(otherBad.node, otherBad.kw), detail{values: otherBad.values, name: otherBad.kw})
	}
}

// allowed keeps the values a side really accepts, for the wording: an
// enum value its own type refuses was never allowed.
func (c *checker) allowed(s compatSide, vals []any) []any {
	if len(vals) > 200 {
		return vals // too many to be worth it: the wording shows the first few
	}
	var out []any
	for _, v := range vals {
		if r, _, _ := c.accepts(s, v); r == compatYes || c.over {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return vals
	}
	return out
}

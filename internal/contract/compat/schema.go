package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// The checker reads a schema document once into compatNodes: one per
// subschema, with the keywords it reasons about decoded and checked, and
// local $refs resolved to the node they point at (so a cyclic $ref is a cycle
// of pointers, not an endless walk).

// Limits that bound the work on any input, however hostile.
const (
	maxDepth = 128  // nested subschemas
	maxNodes = 8192 // subschemas in one document
)

// compatDoc is one compiled schema document.
type compatDoc struct {
	root *node
	// dialect is the draft the document is written in: 4, 6, 7, 2019 or
	// 2020 (the default, as for weir's validator).
	dialect int
	// legacy is true for draft-07 and older: $ref ignores its siblings there,
	// and weir's validator asserts "format".
	legacy bool
	// nodes maps the JSON pointer of every compiled subschema to it.
	nodes map[string]*node
}

// node is one subschema. Absent numeric keywords are -1.
type node struct {
	doc *compatDoc
	id  uint64
	ptr string // JSON pointer of the subschema in its document
	raw any

	isFalse bool // the schema false
	isTrue  bool // true, {}, or only annotations: accepts every value

	types      compatTypes // allowed types when hasType
	hasType    bool
	enum       []any // enum or const values when hasEnum
	enumKeys   map[string]bool
	hasEnum    bool
	isConst    bool
	lo, hi     compatBound
	multipleOf *big.Rat // nil when absent
	multLit    string   // multipleOf as written

	minLength, maxLength int
	pattern              string
	hasPattern           bool
	re                   *regexp.Regexp // nil when Go cannot compile the pattern
	format               string         // only when weir's validator asserts it

	props                   map[string]*node
	required                []string
	patterns                []compatPattern
	additional, unevalProps *node
	propertyNames           *node
	minProps, maxProps      int
	depReq                  map[string][]string
	depSchemas              map[string]*node

	prefix                   []*node
	prefixKw, itemsKw        string // keywords holding prefix and items, for pointers
	items, unevalItems       *node
	minItems, maxItems       int
	unique                   bool
	contains                 *node
	minContains, maxContains int

	allOf, anyOf, oneOf []*node
	not                 *node
	ifN, thenN, elseN   *node
	ref                 *node
	refExternal         string // a $ref this checker does not follow
	hasDefault          bool
	unsupported         []string // keywords it cannot reason about

	fp             string // see fingerprint
	fpDone, fpBusy bool
}

// compatBound is a numeric bound, kept exact as the validator keeps it;
// excl marks exclusiveMinimum/Maximum.
type compatBound struct {
	r    *big.Rat
	lit  string // as written
	excl bool
	set  bool
}

// dialects bounds the drafts that know a keyword: validators ignore a
// keyword outside its drafts, and so does the checker (treating it as a
// constraint would make an earlier version look stricter than it is).
var dialects = map[string][2]int{
	"const": {6, 2020}, "contains": {6, 2020}, "propertyNames": {6, 2020},
	"if": {7, 2020}, "then": {7, 2020}, "else": {7, 2020},
	"dependencies": {4, 7}, "additionalItems": {4, 2019}, "$recursiveRef": {2019, 2019},
	"dependentRequired": {2019, 2020}, "dependentSchemas": {2019, 2020}, "unevaluatedProperties": {2019, 2020},
	"unevaluatedItems": {2019, 2020}, "minContains": {2019, 2020}, "maxContains": {2019, 2020},
	"$anchor": {2019, 2020}, "prefixItems": {2020, 2020}, "$dynamicRef": {2020, 2020},
}

// honors tells whether the document's draft has the keyword.
func (d *compatDoc) honors(kw string) bool {
	r, ok := dialects[kw]
	return !ok || d.dialect >= r[0] && d.dialect <= r[1]
}

// compatPattern is one patternProperties entry.
type compatPattern struct {
	src  string
	re   *regexp.Regexp
	node *node
}

type compatCompiler struct {
	doc     *compatDoc
	rawRoot any
	nodes   map[string]*node
	anchors map[string]*node
	pending []*node // nodes whose $ref is still to resolve
	refStr  map[*node]string
	rootID  string
}

// compatCompile decodes and compiles one schema document.
func compatCompile(b []byte) (*compatDoc, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not valid JSON: more than one value")
	}
	c := &compatCompiler{
		rawRoot: raw,
		nodes:   map[string]*node{},
		anchors: map[string]*node{},
		refStr:  map[*node]string{},
	}
	c.doc = &compatDoc{nodes: c.nodes}
	c.doc.dialect = 2020
	if m, ok := raw.(map[string]any); ok {
		s, _ := m["$schema"].(string)
		for _, d := range []struct {
			name    string
			dialect int
		}{{"draft-03", 4}, {"draft-04", 4}, {"draft-06", 6}, {"draft-07", 7}, {"2019-09", 2019}} {
			if strings.Contains(s, d.name) {
				c.doc.dialect = d.dialect
			}
		}
		c.doc.legacy = c.doc.dialect <= 7
		id, _ := m["$id"].(string)
		if id == "" {
			id, _ = m["id"].(string)
		}
		c.rootID = strings.TrimSuffix(id, "#")
	}
	root, err := c.compile(raw, "", 0)
	if err != nil {
		return nil, err
	}
	c.doc.root = root
	for len(c.pending) > 0 {
		n := c.pending[0]
		c.pending = c.pending[1:]
		if err := c.resolve(n, c.refStr[n]); err != nil {
			return nil, err
		}
	}
	return c.doc, nil
}

func (c *compatCompiler) compile(v any, ptr string, depth int) (*node, error) {
	if n, ok := c.nodes[ptr]; ok {
		return n, nil
	}
	if depth > maxDepth || len(c.nodes) >= maxNodes {
		return nil, errTooLarge
	}
	n := &node{doc: c.doc, id: nodeIDs.Add(1), ptr: ptr, raw: v, minLength: -1, maxLength: -1, minProps: -1, maxProps: -1,
		minItems: -1, maxItems: -1, minContains: -1, maxContains: -1}
	c.nodes[ptr] = n
	switch s := v.(type) {
	case bool:
		n.isTrue, n.isFalse = s, !s
		return n, nil
	case map[string]any:
		if err := c.keywords(n, s, depth); err != nil {
			return nil, err
		}
		n.isTrue = n.acceptsAll()
		return n, nil
	}
	return nil, fmt.Errorf("%s: a schema must be a JSON object, true or false", compatWhere(ptr))
}

// resolve points n.ref at the node its $ref names. References to other
// documents are kept as text: they are never fetched.
func (c *compatCompiler) resolve(n *node, ref string) error {
	local := ref
	if c.rootID != "" && strings.HasPrefix(ref, c.rootID) {
		local = ref[len(c.rootID):]
	}
	if local != "" && !strings.HasPrefix(local, "#") {
		n.refExternal = ref
		return nil
	}
	frag, err := url.PathUnescape(strings.TrimPrefix(local, "#"))
	if err != nil {
		return fmt.Errorf("%s: $ref %q is not a valid reference", compatWhere(n.ptr), ref)
	}
	var target *node
	switch {
	case frag == "":
		target = c.doc.root
	case strings.HasPrefix(frag, "/"):
		target, err = c.pointer(frag)
	default:
		if target = c.anchors[frag]; target == nil {
			err = errors.New("no such anchor")
		}
	}
	if err != nil {
		return fmt.Errorf("%s: $ref %q points to nothing in the schema", compatWhere(n.ptr), ref)
	}
	n.ref = target
	return nil
}

// pointer finds (compiling if needed) the subschema at a JSON pointer.
func (c *compatCompiler) pointer(ptr string) (*node, error) {
	if n, ok := c.nodes[ptr]; ok {
		return n, nil
	}
	v := c.rawRoot
	segs := strings.Split(ptr[1:], "/")
	for _, seg := range segs {
		seg = unescaper.Replace(seg)
		switch t := v.(type) {
		case map[string]any:
			next, ok := t[seg]
			if !ok {
				return nil, errors.New("missing")
			}
			v = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(t) {
				return nil, errors.New("missing")
			}
			v = t[i]
		default:
			return nil, errors.New("missing")
		}
	}
	return c.compile(v, ptr, len(segs))
}

// acceptsAll tells whether no keyword of n constrains anything.
func (n *node) acceptsAll() bool {
	return !n.hasType && !n.hasEnum && !n.lo.set && !n.hi.set && n.multipleOf == nil &&
		n.minLength < 0 && n.maxLength < 0 && !n.hasPattern && n.format == "" &&
		len(n.props) == 0 && len(n.required) == 0 && len(n.patterns) == 0 && n.additional == nil &&
		n.unevalProps == nil && n.propertyNames == nil && n.minProps < 0 && n.maxProps < 0 &&
		len(n.depReq) == 0 && len(n.depSchemas) == 0 && len(n.prefix) == 0 && n.items == nil &&
		n.unevalItems == nil && n.minItems < 0 && n.maxItems < 0 && !n.unique && n.contains == nil &&
		len(n.allOf) == 0 && len(n.anyOf) == 0 && len(n.oneOf) == 0 && n.not == nil && n.ifN == nil &&
		n.ref == nil && n.refExternal == "" && len(n.unsupported) == 0 && !n.pendingRef()
}

// pendingRef is true while the compiler has yet to resolve n's $ref.
func (n *node) pendingRef() bool {
	m, ok := n.raw.(map[string]any)
	if !ok {
		return false
	}
	_, has := m["$ref"]
	return has
}

func compatWhere(ptr string) string {
	if ptr == "" {
		return "the schema"
	}
	return ptr
}

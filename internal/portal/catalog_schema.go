package portal

import "fmt"

// Bounds on what one schema can make the field table hold: a contract's
// schema is written by whoever may publish the type, and the page is read
// by everyone who may see it.
const (
	maxFieldRows   = 500  // rows of the table
	maxFieldDepth  = 16   // objects and arrays inside each other
	maxFieldVisits = 5000 // subschemas looked at, each $ref expansion counted again
	maxRefHops     = 32   // $ref to $ref to ...
	maxCellText    = 300  // bytes of one description, example or rule
	maxEnumShown   = 10   // values of an enum, then "and N more"
	maxShapes      = 8    // alternatives of an anyOf or oneOf named in a type
	maxEnumKinds   = 100  // enum values looked at to name their types
)

// schemaField is one row of the field table.
type schemaField struct {
	// Pointer is where the field is in the event's data (RFC 6901); "*"
	// stands for any array index or any other member name.
	Pointer string
	// Type is the JSON type(s), e.g. "string or null", "array of object".
	Type string
	// Format is the string format (date-time, email ...), if any.
	Format string
	// Required is "yes" or "no" for an object's member, "" elsewhere.
	Required string
	// Description is the schema's description (or title).
	Description string
	// Example is an example value as compact JSON (examples, example,
	// const or default).
	Example string
	// Rules are the other constraints in words: enum, ranges, pattern ...
	Rules []string
	// Note says where the field comes from when it is not plain: an
	// alternative shape, a recursive reference, a reference not followed.
	Note string
}

// fieldTable is a schema as rows.
type fieldTable struct {
	Fields []schemaField
	// Truncated is set when a bound cut the table short.
	Truncated bool
	// Err says why the schema cannot be shown as a table.
	Err string
}

// MaxRows is the bound on rows, shown on the page when the table is cut.
func (fieldTable) MaxRows() int { return maxFieldRows }

// MaxDepth is the bound on nesting, shown on the page when the table is cut.
func (fieldTable) MaxDepth() int { return maxFieldDepth }

// fieldsOf walks a JSON Schema: properties, nested objects, array items,
// local $refs ($defs, definitions), allOf (merged), anyOf/oneOf (each
// shape's fields, marked), additionalProperties, enum, const and format.
func fieldsOf(schema []byte) fieldTable {
	root, err := decodeOrdered(schema)
	if err != nil {
		return fieldTable{Err: "The schema cannot be shown as a table: " + err.Error() + "."}
	}
	// "#" is the root: a reference to it is recursion from the start.
	w := &fieldWalker{root: root, onPath: map[string]string{"#": ""}, requiredOf: map[*object]map[string]bool{}}
	w.walk(root, "", "", 0, "")
	return fieldTable{Fields: w.rows, Truncated: w.cut}
}

// fieldWalker holds one walk's state and budget.
type fieldWalker struct {
	root   any
	rows   []schemaField
	visits int
	cut    bool
	// onPath maps each $ref being expanded above the current field to the
	// pointer where it was, to stop at recursion.
	onPath map[string]string
	// requiredOf caches each object's required list as a set.
	requiredOf map[*object]map[string]bool
}

// resolved is a schema with its $ref chain followed: the nearest schema's
// keywords win over those of the schemas it refers to.
type resolved struct {
	own *object
	// chain are the schemas referred to, nearest first.
	chain []*object
	// refs are the references followed to get here.
	refs []string
	// boolean is set for a true or false schema.
	boolean *bool
	note    string
}

func (s resolved) get(k string) (any, bool) {
	if k == "$ref" {
		return nil, false
	}
	if s.own != nil {
		if v, ok := s.own.get(k); ok {
			return v, true
		}
	}
	for _, o := range s.chain {
		if v, ok := o.get(k); ok {
			return v, true
		}
	}
	return nil, false
}

func (w *fieldWalker) resolve(node any) resolved {
	switch t := node.(type) {
	case bool:
		return resolved{boolean: &t}
	case *object:
		r := resolved{own: t}
		cur := t
		for range maxRefHops {
			ref, ok := cur.vals["$ref"].(string)
			if !ok {
				return r
			}
			target, found := lookup(w.root, ref)
			obj, isObj := target.(*object)
			if !found || !isObj {
				r.note = "refers to " + clipText(ref) + ", which is not shown"
				return r
			}
			r.refs = append(r.refs, ref)
			r.chain = append(r.chain, obj)
			cur = obj
		}
		r.note = "a chain of more than " + fmt.Sprint(maxRefHops) + " references, not followed to its end"
		return r
	}
	return resolved{}
}

// budget counts one visit and reports whether the walk may go on.
func (w *fieldWalker) budget() bool {
	w.visits++
	if w.visits > maxFieldVisits || len(w.rows) >= maxFieldRows {
		w.cut = true
		return false
	}
	return true
}

// walk adds the row of the schema at ptr (not for the root object itself)
// and then its children.
func (w *fieldWalker) walk(node any, ptr, required string, depth int, note string) {
	if !w.budget() {
		return
	}
	s := w.resolve(node)
	where, ok := w.enter(s, ptr)
	if !ok {
		w.rows = append(w.rows, schemaField{Pointer: ptr, Type: "object", Required: required,
			Note: joinNote(note, "recursive: the same shape as "+displayPointer(where))})
		return
	}
	defer w.leave(s)
	row := w.describe(s)
	row.Pointer, row.Required, row.Note = ptr, required, joinNote(note, s.note)
	// The whole data gets a row only when it is not simply an object of
	// fields, which the rows below already describe.
	if ptr != "" || row.Type != "object" || len(row.Rules) > 0 || row.Note != "" {
		w.rows = append(w.rows, row)
	}
	w.children(s, ptr, depth)
}

// enter marks the references s was reached through as being expanded at
// ptr; when one of them already is, above, it reports where instead.
func (w *fieldWalker) enter(s resolved, ptr string) (string, bool) {
	for _, ref := range s.refs {
		if where, loop := w.onPath[ref]; loop {
			return where, false
		}
	}
	for _, ref := range s.refs {
		w.onPath[ref] = ptr
	}
	return "", true
}

// leave undoes enter.
func (w *fieldWalker) leave(s resolved) {
	for _, ref := range s.refs {
		delete(w.onPath, ref)
	}
}

// part adds the rows a part of s (an allOf, anyOf or oneOf member) adds at
// ptr; a part that refers back to a schema above adds nothing new.
func (w *fieldWalker) part(node any, ptr string, depth int) {
	if !w.budget() {
		return
	}
	s := w.resolve(node)
	if _, ok := w.enter(s, ptr); !ok {
		return
	}
	defer w.leave(s)
	w.children(s, ptr, depth)
}

// children adds the rows below a schema: its members, items, and the
// members its allOf, anyOf and oneOf parts add.
func (w *fieldWalker) children(s resolved, ptr string, depth int) {
	if s.boolean != nil || s.own == nil {
		return
	}
	if depth >= maxFieldDepth {
		if hasChildren(s) {
			w.cut = true
		}
		return
	}
	if props, ok := s.get("properties"); ok {
		if p, ok := props.(*object); ok {
			req := w.required(s)
			for _, name := range p.keys {
				r := "no"
				if req(name) {
					r = "yes"
				}
				w.walk(p.vals[name], ptr+"/"+pointerToken(name), r, depth+1, "")
				if w.cut {
					return
				}
			}
		}
	}
	if ap, ok := s.get("additionalProperties"); ok {
		if _, isObj := ap.(*object); isObj {
			w.walk(ap, ptr+"/*", "no", depth+1, "any other member")
		}
	}
	if pi, ok := s.get("prefixItems"); ok {
		if items, ok := pi.([]any); ok {
			for i, it := range items {
				w.walk(it, fmt.Sprintf("%s/%d", ptr, i), "", depth+1, "")
			}
		}
	}
	if it, ok := s.get("items"); ok {
		switch items := it.(type) {
		case *object:
			w.walk(items, ptr+"/*", "", depth+1, "")
		case []any: // draft-07's tuple form
			for i, e := range items {
				w.walk(e, fmt.Sprintf("%s/%d", ptr, i), "", depth+1, "")
			}
		}
	}
	if all, ok := s.get("allOf"); ok {
		for _, part := range asList(all) {
			w.part(part, ptr, depth)
		}
	}
	for _, kw := range []string{"anyOf", "oneOf"} {
		alts, _ := s.get(kw)
		for i, alt := range asList(alts) {
			before := len(w.rows)
			w.part(alt, ptr, depth)
			for j := before; j < len(w.rows); j++ {
				w.rows[j].Note = joinNote(fmt.Sprintf("in shape %d of %s", i+1, kw), w.rows[j].Note)
			}
		}
	}
}

func hasChildren(s resolved) bool {
	for _, k := range []string{"properties", "items", "prefixItems", "additionalProperties", "allOf", "anyOf", "oneOf"} {
		if _, ok := s.get(k); ok {
			return true
		}
	}
	return false
}

// required tells whether a member of s is required. Each object's list is
// read once per walk: a shared definition may be visited many times.
func (w *fieldWalker) required(s resolved) func(string) bool {
	sets := make([]map[string]bool, 0, 1+len(s.chain))
	for _, o := range append([]*object{s.own}, s.chain...) {
		set, ok := w.requiredOf[o]
		if !ok {
			set = map[string]bool{}
			for _, n := range asList(o.vals["required"]) {
				if name, ok := n.(string); ok {
					set[name] = true
				}
			}
			w.requiredOf[o] = set
		}
		sets = append(sets, set)
	}
	return func(name string) bool {
		for _, set := range sets {
			if set[name] {
				return true
			}
		}
		return false
	}
}

func has(s resolved, k string) bool { _, ok := s.get(k); return ok }

func mustGet(s resolved, k string) any { v, _ := s.get(k); return v }

func asList(v any) []any { l, _ := v.([]any); return l }

func joinNote(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// displayPointer shows the root pointer "" as "/".
func displayPointer(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

package portal

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/weir-dev/weir/internal/contract"
	"github.com/weir-dev/weir/internal/event"
)

// Bounds on an example made from a schema.
const (
	maxExampleDepth = 8
	maxExampleNodes = 300      // values made
	maxExampleBytes = 64 << 10 // of the data's JSON text
)

// exampleEvent is the example shown on a type's page.
type exampleEvent struct {
	// Envelope is the whole CloudEvent, indented.
	Envelope string
	// Generated is set when the data was made from the schema rather than
	// being the contract's own example.
	Generated bool
	// Violations are the ways the data breaks the version's schema.
	Violations []contract.Violation
	// Checked is set when the data was checked against the schema.
	Checked bool
}

// exampleFor builds a CloudEvent of typ carrying version v's example data,
// or data made from the schema's examples, defaults and types.
func (p *Portal) exampleFor(c *contract.Contract, v *contract.Version, source string) exampleEvent {
	var ex exampleEvent
	data := []byte(v.Example)
	if len(data) == 0 {
		ex.Generated = true
		data = generateExample(v.Schema)
	}
	dataschema := p.deps.Contracts.DataSchema(c.Type, v.Version)
	if verdict, err := p.deps.Contracts.Validate(c.Type, dataschema, data, p.now()); err == nil && verdict.Checked {
		ex.Checked, ex.Violations = true, verdict.Violations
	}
	e := event.Event{
		SpecVersion: event.SpecVersion, ID: "0f8fad5b-d9cb-469f-a165-70867728950e", Source: source, Type: c.Type,
		Time: p.now().UTC().Truncate(time.Second), DataContentType: "application/json", DataSchema: dataschema, Data: data,
	}
	raw, err := e.MarshalJSON()
	if err != nil {
		// The type or source cannot make a valid event (a type weir.yaml
		// declared before today's rules): show the data alone.
		raw = data
	}
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		ex.Envelope = string(raw)
	} else {
		ex.Envelope = buf.String()
	}
	return ex
}

// generateExample makes data from a schema: for each value the first of
// examples, example, const, default and enum, else a placeholder of its
// type; objects get every property. It may not pass every rule (a pattern,
// a range), which the page says by checking it.
func generateExample(schema []byte) []byte {
	root, err := decodeOrdered(schema)
	if err != nil {
		return []byte("null")
	}
	g := &exampleMaker{fieldWalker: fieldWalker{root: root}}
	w := &limitWriter{limit: maxExampleBytes}
	writeJSON(w, g.make(root, 0))
	if w.cut {
		// Examples copied from the schema are too large to show whole.
		return []byte("null")
	}
	return []byte(w.b.String())
}

// exampleMaker holds one generation's budget; it resolves references as the
// field walker does.
type exampleMaker struct {
	fieldWalker
	nodes int
}

func (g *exampleMaker) make(node any, depth int) any {
	g.nodes++
	if g.nodes > maxExampleNodes || depth > maxExampleDepth {
		return nil
	}
	s := g.resolve(node)
	if s.own == nil {
		return nil
	}
	if l := asList(mustGet(s, "examples")); len(l) > 0 {
		return l[0]
	}
	for _, k := range []string{"example", "const", "default"} {
		if v, ok := s.get(k); ok {
			return v
		}
	}
	if l := asList(mustGet(s, "enum")); len(l) > 0 {
		return l[0]
	}
	for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
		if l := asList(mustGet(s, kw)); len(l) > 0 && !has(s, "properties") {
			if kw != "allOf" {
				return g.make(l[0], depth+1)
			}
			return g.merge(l, depth)
		}
	}
	switch firstType(s) {
	case "object":
		return g.object(s, depth)
	case "array":
		if it, ok := s.get("items"); ok {
			if _, isObj := it.(*object); isObj {
				return []any{g.make(it, depth+1)}
			}
		}
		return []any{}
	case "string":
		return placeholder(mustGet(s, "format"))
	case "integer", "number":
		for _, k := range []string{"minimum", "exclusiveMinimum"} {
			if v, ok := mustGet(s, k).(json.Number); ok {
				return v
			}
		}
		return json.Number("0")
	case "boolean":
		return true
	}
	return nil
}

func (g *exampleMaker) object(s resolved, depth int) any {
	out := &object{vals: map[string]any{}}
	if props, ok := mustGet(s, "properties").(*object); ok {
		for _, name := range props.keys {
			if g.nodes > maxExampleNodes {
				break
			}
			out.keys = append(out.keys, name)
			out.vals[name] = g.make(props.vals[name], depth+1)
		}
	}
	return out
}

// merge makes each part of an allOf and joins the objects among them.
func (g *exampleMaker) merge(parts []any, depth int) any {
	out := &object{vals: map[string]any{}}
	for _, part := range parts {
		o, ok := g.make(part, depth+1).(*object)
		if !ok {
			continue
		}
		for _, k := range o.keys {
			if _, dup := out.vals[k]; !dup {
				out.keys = append(out.keys, k)
			}
			out.vals[k] = o.vals[k]
		}
	}
	return out
}

// firstType is the first non-null type a schema allows, or one inferred
// from its keywords.
func firstType(s resolved) string {
	switch t := mustGet(s, "type").(type) {
	case string:
		return t
	case []any:
		for _, e := range t {
			if name, ok := e.(string); ok && name != "null" {
				return name
			}
		}
		return "null"
	}
	switch {
	case has(s, "properties"):
		return "object"
	case has(s, "items"):
		return "array"
	}
	return ""
}

// placeholder is a string that fits a format.
func placeholder(format any) string {
	switch format {
	case "date-time":
		return "2026-01-31T09:30:00Z"
	case "date":
		return "2026-01-31"
	case "time":
		return "09:30:00Z"
	case "email":
		return "someone@example.com"
	case "uri", "url", "iri":
		return "https://example.com/"
	case "uuid":
		return "123e4567-e89b-12d3-a456-426614174000"
	case "hostname":
		return "example.com"
	case "ipv4":
		return "192.0.2.1"
	case "ipv6":
		return "2001:db8::1"
	}
	return "text"
}

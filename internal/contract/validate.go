package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Violation is one way a payload breaks its contract.
type Violation struct {
	// Pointer is the JSON pointer into the event's data ("" is the whole payload).
	Pointer string `json:"pointer"`
	// Rule is the schema keyword that failed (type, required, minimum, ...).
	Rule string `json:"rule"`
	// Message says what is wrong in a sentence a non-engineer understands.
	Message string `json:"message"`
}

// compile checks that schema is a JSON Schema (2020-12 by default, draft-07 when
// its $schema says so) and compiles it. Only local references are followed: the
// loader refuses every URL, so no schema is ever fetched over the network.
func compile(schema []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("the schema is not valid JSON: %w", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		if _, isBool := doc.(bool); !isBool {
			return nil, errors.New("a schema is a JSON object (or true/false)")
		}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	const loc = "weir:///schema.json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("the schema is not valid: %w", err)
	}
	s, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("the schema is not valid: %s", strings.ReplaceAll(err.Error(), "weir:///schema.json", "schema"))
	}
	return s, nil
}

// noLoader refuses remote references.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("the schema refers to %s; only references inside the schema (#/$defs/...) are allowed", url)
}

// validate checks data against s and explains every violation.
func validate(s *jsonschema.Schema, data []byte) ([]Violation, error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return []Violation{{Pointer: "", Rule: "json", Message: "the payload is not valid JSON"}}, nil
	}
	err = s.Validate(inst)
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, err
	}
	var out []Violation
	collect(ve, &out)
	if len(out) == 0 {
		out = append(out, Violation{Pointer: pointer(ve.InstanceLocation), Rule: "schema", Message: "the payload does not match the contract"})
	}
	slices.SortStableFunc(out, func(a, b Violation) int { return strings.Compare(a.Pointer, b.Pointer) })
	return slices.CompactFunc(out, func(a, b Violation) bool { return a == b }), nil
}

// collect gathers the leaves of the error tree: the concrete failures, not the
// combinators that merely contain them.
func collect(e *jsonschema.ValidationError, out *[]Violation) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, out)
		}
		return
	}
	switch e.ErrorKind.(type) {
	case *kind.Group, *kind.Schema, *kind.Reference, *kind.AllOf:
		return
	}
	*out = append(*out, explainViolation(e))
}

func pointer(loc []string) string {
	var b strings.Builder
	for _, t := range loc {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// explainViolation turns one failure into a sentence about the payload.
func explainViolation(e *jsonschema.ValidationError) Violation {
	p := pointer(e.InstanceLocation)
	where := "the payload"
	if p != "" {
		where = "the field " + strings.TrimPrefix(p, "/")
	}
	kp := e.ErrorKind.KeywordPath()
	rule := "schema"
	if len(kp) > 0 {
		rule = kp[len(kp)-1]
	}
	v := Violation{Pointer: p, Rule: rule}
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		v.Pointer = p + "/" + k.Missing[0]
		v.Message = fmt.Sprintf("%s is missing the required field %s", where, strings.Join(k.Missing, ", "))
	case *kind.Type:
		v.Message = fmt.Sprintf("%s must be %s, but it is %s", where, article(strings.Join(k.Want, " or ")), article(k.Got))
	case *kind.Enum:
		v.Message = fmt.Sprintf("%s must be one of %s, but it is %s", where, jsonList(k.Want), jsonText(k.Got))
	case *kind.Const:
		v.Message = fmt.Sprintf("%s must be exactly %s, but it is %s", where, jsonText(k.Want), jsonText(k.Got))
	case *kind.AdditionalProperties:
		v.Message = fmt.Sprintf("%s has fields the contract does not allow: %s", where, strings.Join(k.Properties, ", "))
	case *kind.MinLength:
		v.Message = fmt.Sprintf("%s must be at least %d characters long, but it has %d", where, k.Want, k.Got)
	case *kind.MaxLength:
		v.Message = fmt.Sprintf("%s must be at most %d characters long, but it has %d", where, k.Want, k.Got)
	case *kind.Pattern:
		v.Message = fmt.Sprintf("%s must match the pattern %s, but it is %q", where, k.Want, k.Got)
	case *kind.Minimum:
		v.Message = fmt.Sprintf("%s must be at least %s, but it is %s", where, ratText(k.Want), ratText(k.Got))
	case *kind.Maximum:
		v.Message = fmt.Sprintf("%s must be at most %s, but it is %s", where, ratText(k.Want), ratText(k.Got))
	case *kind.MinItems:
		v.Message = fmt.Sprintf("%s must have at least %d items, but it has %d", where, k.Want, k.Got)
	case *kind.MaxItems:
		v.Message = fmt.Sprintf("%s must have at most %d items, but it has %d", where, k.Want, k.Got)
	case *kind.Format:
		v.Message = fmt.Sprintf("%s must be a valid %s, but it is %s", where, k.Want, jsonText(k.Got))
	case *kind.FalseSchema:
		v.Message = fmt.Sprintf("%s is not allowed by the contract", where)
	default:
		v.Message = fmt.Sprintf("%s does not match the contract: %s", where, e.ErrorKind.LocalizedString(nil))
	}
	v.Message = strings.TrimSpace(v.Message) + "."
	v.Message = strings.ReplaceAll(v.Message, "..", ".")
	return v
}

// ratText writes a number as a person would: 0, 12.5, -1.
func ratText(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func article(t string) string {
	switch t {
	case "integer", "object", "array":
		return "an " + t
	case "null":
		return "null"
	case "boolean", "number", "string":
		return "a " + t
	}
	return t
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

func jsonList(vs []any) string {
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		parts = append(parts, jsonText(v))
	}
	return strings.Join(parts, ", ")
}

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
	"unicode/utf8"

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
	if bad := uncheckableNumbers(doc, nil, nil); len(bad) > 0 {
		slices.SortFunc(bad, func(a, b badNumber) int { return strings.Compare(a.pointer, b.pointer) })
		return nil, fmt.Errorf("the schema has the number %s at %q: a number may have at most %d characters and an exponent between -%d and %d",
			bad[0].text, bad[0].pointer, maxNumberText, maxNumberExponent, maxNumberExponent)
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

// CheckSchema reports why schema could not be registered as a contract
// version, or nil: the same checks as Register (JSON, a JSON Schema that
// compiles, numbers it can check, no reference loop), without a registry, so
// that a CI gate refuses a file that weir would refuse.
func CheckSchema(schema []byte) error {
	_, err := compileNew(schema)
	return err
}

// compileNew is compile for a schema being registered: it also refuses a
// schema whose references loop without checking anything, found by checking
// an empty value of each JSON type, since every event of that shape would be
// quarantined. A stored schema is only compiled, so that one registered
// before this check still quarantines its events with guidance instead of
// failing them.
func compileNew(schema []byte) (*jsonschema.Schema, error) {
	s, err := compile(schema)
	if err != nil {
		return nil, err
	}
	for _, probe := range []any{nil, false, json.Number("0"), "", []any{}, map[string]any{}} {
		var ve *jsonschema.ValidationError
		if errors.As(s.Validate(probe), &ve) {
			if k := findLoop(ve); k != nil {
				return nil, fmt.Errorf("the schema refers to itself in a loop: %s, so no event could be checked against it", loopText(k))
			}
		}
	}
	return s, nil
}

// findLoop returns the first $ref loop in an error tree, or nil.
func findLoop(e *jsonschema.ValidationError) *kind.RefCycle {
	if k, ok := e.ErrorKind.(*kind.RefCycle); ok {
		return k
	}
	for _, c := range e.Causes {
		if k := findLoop(c); k != nil {
			return k
		}
	}
	return nil
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
	if bad := uncheckableNumbers(inst, nil, nil); len(bad) > 0 {
		out := make([]Violation, 0, len(bad))
		for _, b := range bad {
			out = append(out, Violation{Pointer: b.pointer, Rule: "number", Message: sentence(fmt.Sprintf(
				"%s is the number %s, which weir cannot check against the contract: a number may have at most %d characters and an exponent between -%d and %d",
				whereText(b.pointer), b.text, maxNumberText, maxNumberExponent, maxNumberExponent))})
		}
		return tidy(out), nil
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
	return tidy(out), nil
}

// maxViolations bounds the violations kept for one payload: a large array of
// wrong items must not make a dead letter (or a 422) of megabytes.
const maxViolations = 50

// tidy orders violations by pointer, drops repeats and keeps the first
// maxViolations, saying how many more there were.
func tidy(out []Violation) []Violation {
	slices.SortStableFunc(out, func(a, b Violation) int { return strings.Compare(a.Pointer, b.Pointer) })
	out = slices.CompactFunc(out, func(a, b Violation) bool { return a == b })
	if more := len(out) - maxViolations; more > 0 {
		out = append(out[:maxViolations], Violation{Pointer: "", Rule: "violations",
			Message: fmt.Sprintf("the payload breaks the contract in %d more places; fix the ones above and send it again to see them.", more)})
	}
	return out
}

// Bounds on the numbers weir checks. The validator turns each number into an
// exact fraction (math/big): "1e999999", nine bytes, takes 150 ms of CPU, and
// an exponent past a million makes it crash (big.Rat.SetString fails and the
// validator uses the nil it returns). Far beyond any amount, count or
// measurement (float64 ends near 1e308), and each costs microseconds.
const (
	maxNumberText     = 100 // characters of one number as written
	maxNumberExponent = 400 // |e| in 1.5e-7
)

// badNumber is a number past the bounds above, and where it is.
type badNumber struct{ pointer, text string }

// uncheckableNumbers finds every number in v past the bounds above, so that
// none reaches the validator.
func uncheckableNumbers(v any, at []string, out []badNumber) []badNumber {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			out = uncheckableNumbers(x, append(at[:len(at):len(at)], k), out)
		}
	case []any:
		for i, x := range v {
			out = uncheckableNumbers(x, append(at[:len(at):len(at)], strconv.Itoa(i)), out)
		}
	case json.Number:
		if !checkableNumber(string(v)) {
			out = append(out, badNumber{pointer: pointer(at), text: clip(string(v))})
		}
	}
	return out
}

func checkableNumber(n string) bool {
	if len(n) > maxNumberText {
		return false
	}
	i := strings.IndexAny(n, "eE")
	if i < 0 {
		return true
	}
	e, err := strconv.Atoi(strings.TrimPrefix(n[i+1:], "+"))
	return err == nil && e >= -maxNumberExponent && e <= maxNumberExponent
}

// pointer writes an instance location as a JSON pointer.
func pointer(loc []string) string {
	var b strings.Builder
	for _, t := range loc {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// ratText writes a number as a person would: 0, 12.5, -1.
func ratText(r *big.Rat) string {
	if r == nil {
		return "(no number)"
	}
	if r.IsInt() {
		return clip(r.Num().String())
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

// jsonText writes a value from the payload or the schema as JSON, clipped.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return clip(fmt.Sprint(v))
	}
	return clip(string(b))
}

// clip shortens s to maxQuoted bytes, on a character boundary, marking the cut.
func clip(s string) string { return clipTo(s, maxQuoted) }

func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func jsonList(vs []any) string {
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		parts = append(parts, jsonText(v))
	}
	return strings.Join(parts, ", ")
}

package contract

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"math/big"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/message"
)

// keywordCase is a schema using one keyword and a payload that breaks it.
type keywordCase struct {
	name    string
	schema  string
	data    string
	pointer string // of the violation that explains the keyword
	rule    string
	message string // the whole guidance sentence
}

const draft07 = `"$schema": "http://json-schema.org/draft-07/schema#", `

// keywordCases covers every keyword the validator asserts in the dialects
// weir accepts (2020-12 by default, draft-07 by $schema). format is asserted
// in draft-07 only; contentEncoding and contentMediaType are annotations
// (the validator does not assert them unless told to), see
// TestValidateContentIsAnnotation.
var keywordCases = []keywordCase{
	{"type", `{"properties":{"n":{"type":"integer"}}}`, `{"n":"x"}`,
		"/n", "type", "the field n must be an integer, but it is a string."},
	{"type union", `{"properties":{"n":{"type":["string","null"]}}}`, `{"n":1}`,
		"/n", "type", "the field n must be null or a string, but it is a number."},
	{"enum", `{"properties":{"c":{"enum":["EUR","USD"]}}}`, `{"c":"YEN"}`,
		"/c", "enum", `the field c must be one of "EUR", "USD", but it is "YEN".`},
	{"const", `{"properties":{"v":{"const":2}}}`, `{"v":3}`,
		"/v", "const", "the field v must be exactly 2, but it is 3."},
	{"format (draft-07)", `{` + draft07 + `"properties":{"e":{"format":"email"}}}`, `{"e":"nope"}`,
		"/e", "format", `the field e must be a valid email, but it is "nope".`},
	{"minimum", `{"properties":{"t":{"minimum":0}}}`, `{"t":-1}`,
		"/t", "minimum", "the field t must be at least 0, but it is -1."},
	{"maximum", `{"properties":{"t":{"maximum":10}}}`, `{"t":10.5}`,
		"/t", "maximum", "the field t must be at most 10, but it is 10.5."},
	{"exclusiveMinimum", `{"properties":{"t":{"exclusiveMinimum":0}}}`, `{"t":0}`,
		"/t", "exclusiveMinimum", "the field t must be greater than 0, but it is 0."},
	{"exclusiveMaximum", `{"properties":{"t":{"exclusiveMaximum":1}}}`, `{"t":1}`,
		"/t", "exclusiveMaximum", "the field t must be less than 1, but it is 1."},
	{"multipleOf", `{"properties":{"q":{"multipleOf":5}}}`, `{"q":7}`,
		"/q", "multipleOf", "the field q must be a multiple of 5, but it is 7."},
	{"multipleOf decimal", `{"properties":{"price":{"multipleOf":0.01}}}`, `{"price":1.005}`,
		"/price", "multipleOf", "the field price must be a multiple of 0.01, but it is 1.005."},
	{"minLength", `{"properties":{"s":{"minLength":3}}}`, `{"s":"ab"}`,
		"/s", "minLength", "the field s must be at least 3 characters long, but it has 2."},
	{"maxLength", `{"properties":{"s":{"maxLength":1}}}`, `{"s":"ab"}`,
		"/s", "maxLength", "the field s must be at most 1 characters long, but it has 2."},
	{"pattern", `{"properties":{"sku":{"pattern":"^[A-Z]+$"}}}`, `{"sku":"ab"}`,
		"/sku", "pattern", `the field sku must match the pattern ^[A-Z]+$, but it is "ab".`},
	{"minItems", `{"properties":{"l":{"minItems":1}}}`, `{"l":[]}`,
		"/l", "minItems", "the field l must have at least 1 items, but it has 0."},
	{"maxItems", `{"properties":{"l":{"maxItems":1}}}`, `{"l":[1,2]}`,
		"/l", "maxItems", "the field l must have at most 1 items, but it has 2."},
	{"uniqueItems", `{"properties":{"tags":{"uniqueItems":true}}}`, `{"tags":["a","b","a"]}`,
		"/tags", "uniqueItems", "the field tags must not repeat an item, but items 0 and 2 are equal."},
	{"contains", `{"properties":{"roles":{"contains":{"const":"admin"}}}}`, `{"roles":["guest"]}`,
		"/roles", "contains", `the field roles must contain an item that matches the contract's contains rule, but none does; for example, the field roles/0 must be exactly "admin", but it is "guest".`},
	{"minContains", `{"properties":{"roles":{"contains":{"const":"a"},"minContains":2}}}`, `{"roles":["a","b"]}`,
		"/roles", "minContains", `the field roles must contain at least 2 items that match the contract's contains rule, but 1 do; for example, the field roles/1 must be exactly "a", but it is "b".`},
	{"maxContains", `{"properties":{"roles":{"contains":{"const":"a"},"maxContains":1}}}`, `{"roles":["a","a"]}`,
		"/roles", "maxContains", "the field roles must contain at most 1 items that match the contract's contains rule, but 2 do."},
	{"items", `{"properties":{"l":{"items":{"type":"string"}}}}`, `{"l":["a",1]}`,
		"/l/1", "type", "the field l/1 must be a string, but it is a number."},
	{"items false after prefixItems", `{"properties":{"l":{"prefixItems":[{}],"items":false}}}`, `{"l":[1,2]}`,
		"/l/1", "items", "the field l/1 is an item the contract does not allow."},
	{"prefixItems", `{"properties":{"l":{"prefixItems":[{"type":"string"}]}}}`, `{"l":[1]}`,
		"/l/0", "type", "the field l/0 must be a string, but it is a number."},
	{"items array (draft-07)", `{` + draft07 + `"properties":{"l":{"items":[{"type":"string"}]}}}`, `{"l":[1]}`,
		"/l/0", "type", "the field l/0 must be a string, but it is a number."},
	{"additionalItems (draft-07)", `{` + draft07 + `"properties":{"l":{"items":[{}],"additionalItems":false}}}`, `{"l":[1,2,3]}`,
		"/l", "additionalItems", "the field l has 2 more items than the contract allows."},
	{"required", `{"required":["order"]}`, `{}`,
		"/order", "required", "the payload is missing the required field order."},
	{"required nested", `{"properties":{"a":{"required":["b","c"]}}}`, `{"a":{}}`,
		"/a/b", "required", "the field a is missing the required field b, c."},
	{"dependentRequired", `{"dependentRequired":{"card":["cvc"]}}`, `{"card":"4242"}`,
		"/cvc", "dependentRequired", "the payload is missing the field cvc, which the contract requires when card is present."},
	{"dependencies (draft-07)", `{` + draft07 + `"dependencies":{"card":["cvc"]}}`, `{"card":"4242"}`,
		"/cvc", "dependencies", "the payload is missing the field cvc, which the contract requires when card is present."},
	{"dependentSchemas", `{"dependentSchemas":{"card":{"required":["cvc"]}}}`, `{"card":"4242"}`,
		"/cvc", "required", "the payload is missing the required field cvc (the contract requires this when card is present)."},
	{"minProperties", `{"minProperties":2}`, `{"a":1}`,
		"", "minProperties", "the payload must have at least 2 fields, but it has 1."},
	{"maxProperties", `{"properties":{"m":{"maxProperties":1}}}`, `{"m":{"a":1,"b":2}}`,
		"/m", "maxProperties", "the field m must have at most 1 fields, but it has 2."},
	{"propertyNames", `{"propertyNames":{"pattern":"^[a-z]+$"}}`, `{"Bad":1}`,
		"/Bad", "propertyNames", `the payload has a field named "Bad", a name the contract's propertyNames rule does not allow: the payload must match the pattern ^[a-z]+$, but it is "Bad".`},
	{"additionalProperties false", `{"properties":{"a":{}},"additionalProperties":false}`, `{"a":1,"b":2}`,
		"", "additionalProperties", "the payload has fields the contract does not allow: b."},
	{"additionalProperties schema", `{"additionalProperties":{"type":"string"}}`, `{"b":1}`,
		"/b", "type", "the field b must be a string, but it is a number."},
	{"patternProperties", `{"patternProperties":{"^n_":{"type":"number"}}}`, `{"n_a":"x"}`,
		"/n_a", "type", "the field n_a must be a number, but it is a string."},
	{"unevaluatedProperties", `{"allOf":[{"properties":{"a":{}}}],"unevaluatedProperties":false}`, `{"a":1,"b":2}`,
		"/b", "unevaluatedProperties", "the field b is a field the contract does not allow."},
	{"unevaluatedItems", `{"prefixItems":[{}],"unevaluatedItems":false}`, `[1,2]`,
		"/1", "unevaluatedItems", "the field 1 is an item the contract does not allow."},
	{"not", `{"properties":{"s":{"not":{"const":"x"}}}}`, `{"s":"x"}`,
		"/s", "not", "the field s matches a shape the contract forbids (not)."},
	{"allOf", `{"allOf":[{"properties":{"a":{"type":"string"}}}]}`, `{"a":1}`,
		"/a", "type", "the field a must be a string, but it is a number."},
	{"anyOf", `{"properties":{"id":{"anyOf":[{"type":"string"},{"minimum":10}]}}}`, `{"id":1}`,
		"/id", "anyOf", "the field id matches none of the shapes the contract allows (anyOf): shape 1 fails because the field id must be a string, but it is a number; shape 2 fails because the field id must be at least 10, but it is 1."},
	{"oneOf none", `{"properties":{"id":{"oneOf":[{"type":"string"},{"type":"boolean"}]}}}`, `{"id":1}`,
		"/id", "oneOf", "the field id matches none of the shapes the contract allows (oneOf): shape 1 fails because the field id must be a string, but it is a number; shape 2 fails because the field id must be a boolean, but it is a number."},
	{"oneOf several", `{"properties":{"id":{"oneOf":[{"type":"number"},{"type":"integer"}]}}}`, `{"id":1}`,
		"/id", "oneOf", "the field id must match exactly one of the shapes the contract allows (oneOf), but it matches both shape 1 and shape 2."},
	{"if/then", `{"if":{"properties":{"kind":{"const":"card"}}},"then":{"required":["card"]}}`, `{"kind":"card"}`,
		"/card", "required", "the payload is missing the required field card (the contract's if/then rule applies to this payload)."},
	{"if/else", `{"if":{"properties":{"kind":{"const":"card"}}},"else":{"required":["iban"]}}`, `{"kind":"sepa"}`,
		"/iban", "required", "the payload is missing the required field iban (the contract's if/else rule applies to this payload)."},
	{"$ref", `{"$defs":{"pos":{"minimum":0}},"properties":{"n":{"$ref":"#/$defs/pos"}}}`, `{"n":-1}`,
		"/n", "minimum", "the field n must be at least 0, but it is -1."},
	{"$dynamicRef", `{"$dynamicAnchor":"node","properties":{"next":{"$dynamicRef":"#node"},"v":{"type":"integer"}}}`, `{"next":{"v":"x"}}`,
		"/next/v", "type", "the field next/v must be an integer, but it is a string."},
	{"$ref cycle", `{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"properties":{"x":{"$ref":"#/$defs/a"}}}`, `{"x":1}`,
		"/x", "$ref", ""},
	{"false schema", `false`, `{}`,
		"", "false", "the payload is not allowed by the contract."},
	{"false property", `{"properties":{"legacy":false}}`, `{"legacy":1}`,
		"/legacy", "properties", "the field legacy is a field the contract does not allow."},
	{"escaped pointer", `{"properties":{"a/b":{"type":"string"}}}`, `{"a/b":1}`,
		"/a~1b", "type", "the field a~1b must be a string, but it is a number."},
}

func TestValidateExplainsEveryKeyword(t *testing.T) {
	t.Parallel()
	for _, tc := range keywordCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := compile([]byte(tc.schema))
			require.NoError(t, err)
			var got []Violation
			require.NotPanics(t, func() { got, err = validate(s, []byte(tc.data)) })
			require.NoError(t, err)
			require.NotEmpty(t, got, "the payload must break the contract")
			var v *Violation
			for i := range got {
				if got[i].Pointer == tc.pointer && got[i].Rule == tc.rule {
					v = &got[i]
				}
			}
			require.NotNil(t, v, "no %s violation at %q in %+v", tc.rule, tc.pointer, got)
			require.NotEmpty(t, v.Message)
			require.NotContains(t, v.Message, "breaks the contract's", "a keyword the validator supports has its own sentence")
			if tc.pointer == "" {
				require.Contains(t, v.Message, "the payload")
			} else {
				// The message names the field, or the missing one.
				parent, last := tc.pointer[:strings.LastIndex(tc.pointer, "/")], tc.pointer[strings.LastIndex(tc.pointer, "/")+1:]
				require.True(t, strings.Contains(v.Message, strings.TrimPrefix(tc.pointer, "/")) ||
					strings.Contains(v.Message, last) && (parent == "" || strings.Contains(v.Message, strings.TrimPrefix(parent, "/"))),
					"message %q does not name %s", v.Message, tc.pointer)
			}
			if tc.message != "" {
				require.Equal(t, tc.message, v.Message)
			}
		})
	}
}

func TestValidateRefCycleTellsTheOwner(t *testing.T) {
	t.Parallel()
	for _, schema := range []string{
		`{"$ref":"#"}`,
		`{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"properties":{"x":{"$ref":"#/$defs/a"}}}`,
		`{"properties":{"x":{"allOf":[{"$ref":"#/properties/x"}]}}}`,
	} {
		s, err := compile([]byte(schema))
		require.NoError(t, err, schema)
		got, err := validate(s, []byte(`{"x":1}`))
		require.NoError(t, err)
		require.Len(t, got, 1, schema)
		require.Equal(t, "$ref", got[0].Rule)
		require.Contains(t, got[0].Message, "refers to itself in a loop")
		require.Contains(t, got[0].Message, "the contract's owner must fix the schema")
	}
}

// Without an assertion vocabulary the validator treats content keywords as
// annotations: a payload with bad base64 is valid, not a crash.
func TestValidateContentIsAnnotation(t *testing.T) {
	t.Parallel()
	s, err := compile([]byte(`{"properties":{"img":{"contentEncoding":"base64","contentMediaType":"application/json","contentSchema":{"type":"object"}}}}`))
	require.NoError(t, err)
	got, err := validate(s, []byte(`{"img":"%%% not base64"}`))
	require.NoError(t, err)
	require.Empty(t, got)
}

// A payload cannot make a guidance message large: quoted values, lists of
// names and the alternatives of anyOf are clipped.
func TestValidateGuidanceIsBounded(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 5000)
	many := make([]string, 0, 1000)
	for i := range 1000 {
		many = append(many, `"f`+strings.Repeat("x", 50)+string(rune('a'+i%26))+`_`+strings.Repeat("y", i%7)+`":1`)
	}
	cases := []struct{ schema, data string }{
		{`{"properties":{"s":{"pattern":"^a$"}}}`, `{"s":"` + long + `"}`},
		{`{"properties":{"s":{"const":"a"}}}`, `{"s":"` + long + `"}`},
		{`{"additionalProperties":false}`, `{` + strings.Join(many, ",") + `}`},
		{`{"anyOf":[` + strings.Repeat(`{"properties":{"s":{"pattern":"^a$"}}},`, 40) + `{"type":"string"}]}`, `{"s":"` + long + `"}`},
		{`{"propertyNames":{"maxLength":3}}`, `{"` + long + `":1}`},
	}
	for _, tc := range cases {
		s, err := compile([]byte(tc.schema))
		require.NoError(t, err)
		got, err := validate(s, []byte(tc.data))
		require.NoError(t, err)
		require.NotEmpty(t, got)
		for _, v := range got {
			require.Less(t, len(v.Message), 1200, v.Message)
			require.True(t, strings.ToValidUTF8(v.Message, "?") == v.Message, "message cut inside a character")
		}
	}
}

// allKinds holds one value of every error kind of the validator, including
// those weir's dialects never assert (content keywords) or that need a
// non-JSON value, so that none of them reaches the generic sentence.
func allKinds() []jsonschema.ErrorKind {
	r := big.NewRat(1, 3)
	return []jsonschema.ErrorKind{
		&kind.InvalidJsonValue{Value: struct{}{}}, &kind.Not{}, &kind.AnyOf{}, &kind.OneOf{},
		&kind.OneOf{Subschemas: []int{0, 1}}, &kind.FalseSchema{},
		&kind.RefCycle{URL: "u", KeywordLocation1: "/a/$ref", KeywordLocation2: "/b/$ref"},
		&kind.Type{Got: "string", Want: []string{"integer"}}, &kind.Enum{Got: 1, Want: []any{2}},
		&kind.Const{Got: 1, Want: 2}, &kind.Format{Got: "x", Want: "email", Err: errors.New("bad")},
		&kind.MinProperties{Got: 0, Want: 1}, &kind.MaxProperties{Got: 2, Want: 1},
		&kind.MinItems{Got: 0, Want: 1}, &kind.MaxItems{Got: 2, Want: 1}, &kind.AdditionalItems{Count: 1},
		&kind.Required{Missing: []string{"a"}}, &kind.Dependency{Prop: "a", Missing: []string{"b"}},
		&kind.DependentRequired{Prop: "a", Missing: []string{"b"}},
		&kind.AdditionalProperties{Properties: []string{"a"}}, &kind.PropertyNames{Property: "a"},
		&kind.UniqueItems{Duplicates: [2]int{0, 1}}, &kind.Contains{},
		&kind.MinContains{Got: []int{0}, Want: 2}, &kind.MaxContains{Got: []int{0, 1}, Want: 1},
		&kind.MinLength{Got: 0, Want: 1}, &kind.MaxLength{Got: 2, Want: 1}, &kind.Pattern{Got: "a", Want: "^b$"},
		&kind.ContentEncoding{Want: "base64", Err: errors.New("bad")},
		&kind.ContentMediaType{Got: []byte("x"), Want: "application/json", Err: errors.New("bad")},
		&kind.ContentSchema{},
		&kind.Minimum{Got: r, Want: r}, &kind.Maximum{Got: r, Want: r},
		&kind.ExclusiveMinimum{Got: r, Want: r}, &kind.ExclusiveMaximum{Got: r, Want: r},
		&kind.MultipleOf{Got: r, Want: r},
		// Zero values: a kind built without its details must not crash either.
		&kind.Required{}, &kind.DependentRequired{}, &kind.Minimum{}, &kind.MultipleOf{},
		&kind.ContentEncoding{}, &kind.MaxContains{}, &kind.Type{},
	}
}

// The kinds that only wrap others: collect descends into them.
var wrapperKinds = map[string]bool{"Schema": true, "Group": true, "Reference": true, "AllOf": true}

func TestExplainEveryKind(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, k := range allKinds() {
		name := reflect.TypeOf(k).Elem().Name()
		seen[name] = true
		e := &jsonschema.ValidationError{SchemaURL: "weir:///schema.json#/properties/x", InstanceLocation: []string{"x"}, ErrorKind: k}
		var v Violation
		require.NotPanics(t, func() { v = explainViolation(e) }, name)
		require.NotEmpty(t, v.Rule, name)
		require.True(t, strings.HasPrefix(v.Message, "the field x"), "%s: %q", name, v.Message)
		require.NotContains(t, v.Message, "breaks the contract's", "%s has no sentence of its own", name)
	}

	// A kind added by a new version of the validator fails here until it has
	// its own sentence (it would get the generic one meanwhile, not a crash).
	for _, name := range kindTypes(t) {
		require.True(t, seen[name] || wrapperKinds[name], "kind.%s is not explained", name)
	}

	// An unknown kind gets a generic sentence built with a real printer.
	v := explainViolation(&jsonschema.ValidationError{InstanceLocation: []string{"n"}, ErrorKind: customKind{}})
	require.Equal(t, "the field n breaks the contract's evenBytes rule: byte count 3 is odd.", v.Message)
	require.Equal(t, "evenBytes", v.Rule)
	v = explainViolation(&jsonschema.ValidationError{})
	require.Equal(t, "the payload does not match the contract.", v.Message)
}

type customKind struct{}

func (customKind) KeywordPath() []string { return []string{"evenBytes"} }
func (customKind) LocalizedString(p *message.Printer) string {
	return p.Sprintf("byte count %d is odd", 3)
}

// kindTypes lists the exported types of the validator's kind package, read
// from its source.
func kindTypes(t *testing.T) []string {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/santhosh-tekuri/jsonschema/v6/kind").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, "kind.go"), nil, 0)
	require.NoError(t, err)
	var names []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.TYPE {
			continue
		}
		for _, s := range g.Specs {
			if ts := s.(*ast.TypeSpec); ts.Name.IsExported() {
				names = append(names, ts.Name.Name)
			}
		}
	}
	require.Greater(t, len(names), 30)
	return names
}

// A number past weir's bounds is a violation of its own, found before the
// validator turns it into a fraction: "1e99999999" used to crash the
// validator (math/big refuses it and the validator used the nil), and
// "1e999999" cost 150 ms of CPU per occurrence.
func TestValidateBoundsNumbers(t *testing.T) {
	t.Parallel()
	s, err := compile([]byte(`{"properties":{"q":{"multipleOf":0.01,"minimum":0},"l":{"uniqueItems":true,"items":{"type":"integer"}}}}`))
	require.NoError(t, err)
	for _, tc := range []struct{ data, pointer string }{
		{`{"q":1e99999999}`, "/q"},
		{`{"q":-1E-99999999}`, "/q"},
		{`{"q":1e999999}`, "/q"},
		{`{"q":1` + strings.Repeat("0", 200) + `}`, "/q"},
		{`{"l":[` + strings.Repeat(`1,`, 30) + `1e99999999]}`, "/l/30"},
	} {
		var got []Violation
		require.NotPanics(t, func() { got, err = validate(s, []byte(tc.data)) }, tc.data)
		require.NoError(t, err)
		require.Len(t, got, 1, tc.data)
		require.Equal(t, tc.pointer, got[0].Pointer)
		require.Equal(t, "number", got[0].Rule)
		require.Contains(t, got[0].Message, "which weir cannot check against the contract")
	}
	got, err := validate(s, []byte(`{"q":1e400,"l":[1e-400]}`))
	require.NoError(t, err)
	require.Len(t, got, 1, "1e400 and 1e-400 are within bounds: %+v", got)
	require.Equal(t, "/l/0", got[0].Pointer)

	_, err = compile([]byte(`{"properties":{"q":{"minimum":1e99999999}}}`))
	require.ErrorContains(t, err, `the schema has the number 1e99999999 at "/properties/q/minimum"`)
}

func TestValidateBoundsViolations(t *testing.T) {
	t.Parallel()
	s, err := compile([]byte(`{"items":{"type":"string"}}`))
	require.NoError(t, err)
	got, err := validate(s, []byte(`[`+strings.Repeat(`1,`, 999)+`1]`))
	require.NoError(t, err)
	require.Len(t, got, maxViolations+1)
	require.Equal(t, "violations", got[maxViolations].Rule)
	require.Equal(t, "the payload breaks the contract in 950 more places; fix the ones above and send it again to see them.", got[maxViolations].Message)
}

// A schema whose references loop for every value of some JSON type is
// refused when registered: every such event would be quarantined. A loop
// reached only through a field's value cannot be found without that value;
// it is explained when an event meets it (TestValidateRefCycleTellsTheOwner).
func TestCompileNewRefusesLoops(t *testing.T) {
	t.Parallel()
	for schema, want := range map[string]string{
		`{"$ref":"#"}`: "the schema refers to itself in a loop: #/$ref refers back to # without checking anything, so no event could be checked against it",
		`{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`:                      "the schema refers to itself in a loop: #/$ref/$ref/$ref refers back to #/$ref without checking anything",
		`{"type":"array","items":{"$ref":"#"},"allOf":[{"$ref":"#/$defs/loop"}],"$defs":{"loop":{"$ref":"#"}}}`: "the schema refers to itself in a loop",
		// Every value but a string loops.
		`{"anyOf":[{"type":"string"},{"$ref":"#"}]}`: "#/anyOf/1/$ref refers back to # without checking anything",
	} {
		_, err := compileNew([]byte(schema))
		require.ErrorContains(t, err, want, schema)
	}
	for _, schema := range []string{
		`{"type":"object","properties":{"next":{"$ref":"#"}}}`, // a linked list: recursion through a value is fine
		`{"properties":{"x":{"$ref":"#/$defs/a"}},"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}}}`,
	} {
		_, err := compileNew([]byte(schema))
		require.NoError(t, err, schema)
	}
}

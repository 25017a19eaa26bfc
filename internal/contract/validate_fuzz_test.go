package contract

import (
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// kitchenSink uses every keyword at once, in nested places, so that a fuzzed
// document meets them in combination (anyOf inside contains inside
// unevaluatedProperties ...).
const kitchenSink = `{
  "$defs": {
    "num": {"type": "number", "minimum": -5, "maximum": 1e6, "exclusiveMinimum": -10, "exclusiveMaximum": 2e6, "multipleOf": 0.5},
    "str": {"type": "string", "minLength": 1, "maxLength": 8, "pattern": "^[a-z]*$", "format": "email",
            "contentEncoding": "base64", "contentMediaType": "application/json", "contentSchema": {"type": "object"}},
    "loop": {"$ref": "#/$defs/loop2"}, "loop2": {"allOf": [{"$ref": "#/$defs/loop"}]},
    "tree": {"$dynamicAnchor": "node", "type": "object", "properties": {"kids": {"type": "array", "items": {"$dynamicRef": "#node"}}}}
  },
  "type": ["object", "array", "string", "number", "boolean", "null"],
  "minProperties": 1, "maxProperties": 6,
  "required": ["a"],
  "dependentRequired": {"b": ["c"]},
  "dependentSchemas": {"c": {"properties": {"c": {"$ref": "#/$defs/num"}}}},
  "propertyNames": {"maxLength": 5, "not": {"const": "zz"}},
  "properties": {
    "a": {"enum": [1, "x", null, [1], {"k": 2}]},
    "b": {"const": {"deep": [1, 2]}},
    "n": {"$ref": "#/$defs/num"},
    "s": {"$ref": "#/$defs/str"},
    "l": {"type": "array", "minItems": 1, "maxItems": 5, "uniqueItems": true,
          "prefixItems": [{"type": "integer"}], "items": {"$ref": "#/$defs/str"},
          "contains": {"type": "string"}, "minContains": 1, "maxContains": 3, "unevaluatedItems": false},
    "o": {"oneOf": [{"type": "integer"}, {"type": "number"}], "anyOf": [{"minimum": 0}, {"maximum": -1}]},
    "r": {"$ref": "#/$defs/loop"},
    "t": {"$ref": "#/$defs/tree"},
    "f": false
  },
  "patternProperties": {"^p": {"type": "boolean"}},
  "if": {"properties": {"a": {"const": 1}}}, "then": {"required": ["n"]}, "else": {"not": {"required": ["n"]}},
  "unevaluatedProperties": false,
  "items": {"$ref": "#"},
  "additionalItems": false
}`

// A draft-07 schema for the keywords that exist there only.
const kitchenSink07 = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": ["object", "array"],
  "items": [{"type": "integer"}, {"format": "date-time"}],
  "additionalItems": false,
  "dependencies": {"a": ["b"], "c": {"required": ["d"]}},
  "additionalProperties": {"type": "string", "format": "ipv4"}
}`

// FuzzValidate checks that no document can make validation fail other than
// with violations: no panic, no error, and every violation has a rule and a
// bounded sentence.
func FuzzValidate(f *testing.F) {
	schemas := []*jsonschema.Schema{}
	for _, src := range []string{kitchenSink, kitchenSink07} {
		s, err := compile([]byte(src))
		require.NoError(f, err)
		schemas = append(schemas, s)
	}
	for _, tc := range keywordCases {
		s, err := compile([]byte(tc.schema))
		require.NoError(f, err)
		schemas = append(schemas, s)
		f.Add(uint8(0), []byte(tc.data))
	}
	f.Add(uint8(0), []byte(`{"a":1,"b":{"deep":[1,2]},"c":3,"l":[1,"a","a"],"o":1.5,"r":1,"t":{"kids":[{"kids":[1]}]},"f":0,"pq":"x","zz":1}`))
	f.Add(uint8(1), []byte(`[1,"2026-13-01",3]`))
	f.Add(uint8(1), []byte(`{"a":1,"c":2,"e":"999.1.1.1"}`))
	f.Add(uint8(0), []byte(`{"n":1e99999999,"s":"\u00e9"}`))
	f.Fuzz(func(t *testing.T, which uint8, doc []byte) {
		if len(doc) > 4<<10 {
			return // validation is linear; big inputs only slow the search
		}
		s := schemas[int(which)%len(schemas)]
		got, err := validate(s, doc)
		require.NoError(t, err)
		require.LessOrEqual(t, len(got), maxViolations+1)
		for _, v := range got {
			require.NotEmpty(t, v.Rule)
			require.NotEmpty(t, v.Message)
			require.Less(t, len(v.Message), 2000)
			require.True(t, utf8.ValidString(v.Message) || !utf8.Valid(doc), "message %q", v.Message)
		}
	})
}

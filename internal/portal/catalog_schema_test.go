package portal

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func pointers(ft fieldTable) []string {
	out := make([]string, len(ft.Fields))
	for i, f := range ft.Fields {
		out[i] = f.Pointer
	}
	return out
}

func TestFieldsFollowRefsAllOfAndShapes(t *testing.T) {
	t.Parallel()
	ft := fieldsOf([]byte(`{
	  "allOf": [{"$ref": "#/definitions/base"}, {"properties": {"z": {"type": ["string", "null"]}}, "required": ["z"]}],
	  "definitions": {"base": {"type": "object", "properties": {"id": {"type": "integer", "default": 7}}, "required": ["id"]}},
	  "properties": {
	    "pay": {"oneOf": [{"type": "string"}, {"properties": {"card": {"const": "visa"}}}]},
	    "tree": {"$ref": "#/$defs/node"},
	    "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "uniqueItems": true},
	    "a~b/c": {"type": "boolean"},
	    "ext": {"$ref": "https://example.com/s.json"}
	  },
	  "$defs": {"node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}
	}`))
	require.Empty(t, ft.Err)
	require.False(t, ft.Truncated)
	require.Equal(t, []string{"/pay", "/pay/card", "/tree", "/tree/kids", "/tree/kids/*", "/tags", "/tags/*", "/a~0b~1c", "/ext", "/id", "/z"}, pointers(ft))
	byPtr := map[string]schemaField{}
	for _, f := range ft.Fields {
		byPtr[f.Pointer] = f
	}
	require.Equal(t, "one of: string | object", byPtr["/pay"].Type)
	require.Equal(t, "in shape 2 of oneOf", byPtr["/pay/card"].Note)
	require.Equal(t, "string", byPtr["/pay/card"].Type)
	require.Equal(t, []string{`exactly "visa"`}, byPtr["/pay/card"].Rules)
	require.Contains(t, byPtr["/tree/kids/*"].Note, "recursive: the same shape as /tree")
	require.Equal(t, "array of string", byPtr["/tags"].Type)
	require.Equal(t, []string{"no repeated items"}, byPtr["/tags"].Rules)
	require.Equal(t, []string{"at most 3 characters"}, byPtr["/tags/*"].Rules)
	require.Contains(t, byPtr["/ext"].Note, "which is not shown")
	require.Equal(t, "yes", byPtr["/id"].Required)
	require.Equal(t, "7", byPtr["/id"].Example)
	require.Equal(t, "string or null", byPtr["/z"].Type)
	require.Equal(t, "yes", byPtr["/z"].Required)
}

func TestFieldsOfARecursiveRootAndBadInput(t *testing.T) {
	t.Parallel()
	ft := fieldsOf([]byte(`{"properties": {"self": {"$ref": "#"}}}`))
	require.Equal(t, []string{"/self"}, pointers(ft))
	require.Contains(t, ft.Fields[0].Note, "recursive: the same shape as /")

	ft = fieldsOf([]byte(`{"properties":`))
	require.NotEmpty(t, ft.Err)
	ft = fieldsOf([]byte(strings.Repeat("[", maxJSONDepth+10) + strings.Repeat("]", maxJSONDepth+10)))
	require.Contains(t, ft.Err, "nests more than")
	ft = fieldsOf([]byte(`true`))
	require.Equal(t, "any", ft.Fields[0].Type)
	ft = fieldsOf([]byte(`{"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}`))
	require.Contains(t, ft.Fields[0].Note, "not followed to its end")
}

// A schema whose definitions each use the next one twice expands to 2^30
// fields; the walk stops at its bounds.
func TestFieldsOfAnExponentialSchemaIsBounded(t *testing.T) {
	t.Parallel()
	var defs []string
	for i := range 30 {
		defs = append(defs, fmt.Sprintf(`"d%d": {"properties": {"a": {"$ref": "#/$defs/d%d"}, "b": {"$ref": "#/$defs/d%d"}}, "allOf": [{"$ref": "#/$defs/d%d"}, {"$ref": "#/$defs/d%d"}]}`, i, i+1, i+1, i+1, i+1))
	}
	defs = append(defs, `"d30": {"type": "string"}`)
	ft := fieldsOf([]byte(`{"$ref": "#/$defs/d0", "$defs": {` + strings.Join(defs, ",") + `}}`))
	require.True(t, ft.Truncated)
	require.LessOrEqual(t, len(ft.Fields), maxFieldRows)
}

func TestGenerateExample(t *testing.T) {
	t.Parallel()
	got := generateExample([]byte(`{"type": "object", "properties": {
	  "when": {"type": "string", "format": "date-time"},
	  "n": {"type": ["null", "integer"], "minimum": 5},
	  "kind": {"enum": ["a", "b"]},
	  "parts": {"allOf": [{"properties": {"x": {"const": 1}}}, {"properties": {"y": {"default": true}}}]},
	  "list": {"type": "array", "items": {"$ref": "#/$defs/item"}},
	  "self": {"$ref": "#"}
	}, "$defs": {"item": {"examples": [{"sku": "A-1"}]}}}`))
	require.True(t, strings.HasPrefix(string(got), `{"when":"2026-01-31T09:30:00Z","n":5,"kind":"a","parts":{"x":1,"y":true},"list":[{"sku":"A-1"}],"self":{`), string(got))
	require.LessOrEqual(t, len(got), maxExampleBytes)
}

func TestLineDiff(t *testing.T) {
	t.Parallel()
	a := strings.Split("a\nb\nc\nd\ne\nf\ng\nh\ni\nj", "\n")
	b := strings.Split("a\nb\nc\nX\nd\ne\nf\ng\nh\ni\nJ", "\n")
	lines, exact := lineDiff(a, b)
	require.True(t, exact)
	var ops []string
	for _, l := range lines {
		ops = append(ops, l.Op+l.Text)
	}
	require.Equal(t, []string{" a", " b", " c", "+X", " d", " e", " f", " g", " h", " i", "-j", "+J"}, ops)

	// Far apart changes keep 3 lines of context and fold the rest.
	var long []string
	for i := range 100 {
		long = append(long, fmt.Sprint(i))
	}
	changed := append([]string{"first"}, long[1:]...)
	changed[99] = "last"
	lines, _ = lineDiff(long, changed)
	require.Equal(t, "…", lines[5].Op)
	require.Equal(t, "92 unchanged lines", lines[5].Text)

	// Too large a change for the table: all removed, then all added.
	big1, big2 := make([]string, 2000), make([]string, 2000)
	for i := range big1 {
		big1[i], big2[i] = fmt.Sprint("a", i), fmt.Sprint("b", i)
	}
	lines, exact = lineDiff(big1, big2)
	require.False(t, exact)
	require.Equal(t, "-", lines[0].Op)
	require.LessOrEqual(t, len(lines), maxDiffLines+1)
}

func TestJSONToYAMLKeepsNumbersAndOrder(t *testing.T) {
	t.Parallel()
	out, err := jsonToYAML([]byte(`{"z": 9007199254740993, "a": 1.50, "s": "true", "n": null, "l": [1, "x"]}`))
	require.NoError(t, err)
	require.Equal(t, "z: 9007199254740993\na: 1.50\ns: \"true\"\nn: null\nl:\n  - 1\n  - x\n", string(out))
}

func FuzzFieldsOf(f *testing.F) {
	f.Add([]byte(`{"type":"object","properties":{"a":{"$ref":"#/$defs/x"}},"$defs":{"x":{"items":{"$ref":"#"}}}}`))
	f.Add([]byte(`{"allOf":[{"$ref":"#"}],"anyOf":[true,false],"prefixItems":[{}],"items":[{}]}`))
	f.Add([]byte(`{"$ref":"#/a~1b/%7E0/0"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ft := fieldsOf(raw)
		if len(ft.Fields) > maxFieldRows {
			t.Fatalf("%d rows", len(ft.Fields))
		}
		for _, fl := range ft.Fields {
			if len(fl.Description) > maxCellText+3 || len(fl.Example) > maxCellText+3 {
				t.Fatalf("cell not clipped: %q", fl)
			}
		}
		if len(generateExample(raw)) > maxExampleBytes {
			t.Fatal("example too large")
		}
	})
}

package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// compatHostile are documents built to make a careless checker loop, recurse
// without end or take quadratic time. The enum has enumSize values.
func compatHostile(enumSize int) []string {
	deep := strings.Repeat(`{"properties":{"a":`, 120) + `{}` + strings.Repeat(`}}`, 120)
	deepAny := strings.Repeat(`{"anyOf":[{"type":"string"},`, 60) + `{}` + strings.Repeat(`]}`, 60)
	var enum strings.Builder
	enum.WriteString(`{"enum":[`)
	for i := range enumSize {
		if i > 0 {
			enum.WriteByte(',')
		}
		fmt.Fprintf(&enum, `"v%d"`, i)
	}
	enum.WriteString(`]}`)
	var unions strings.Builder
	unions.WriteString(`{"allOf":[`)
	for i := range 12 {
		if i > 0 {
			unions.WriteByte(',')
		}
		fmt.Fprintf(&unions, `{"anyOf":[{"type":"string","minLength":%d},{"type":"object","required":["k%d"]},{"type":"integer"}]}`, i, i)
	}
	unions.WriteString(`]}`)
	return []string{
		deep, deepAny, enum.String(), unions.String(),
		`{"$ref":"#"}`,
		`{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`,
		`{"anyOf":[{"$ref":"#"},{"type":"string"}]}`,
		`{"oneOf":[{"$ref":"#"},{"$ref":"#"}]}`,
		`{"allOf":[{"$ref":"#"}],"not":{"$ref":"#"}}`,
		`{"type":"object","properties":{"n":{"$ref":"#"}},"additionalProperties":{"$ref":"#"}}`,
		`{"type":"array","items":{"$ref":"#"},"contains":{"$ref":"#"}}`,
		`{"if":{"$ref":"#"},"then":{"$ref":"#"},"else":{"$ref":"#"}}`,
		`{"patternProperties":{"(":{"type":"string"}},"pattern":"(?<=x)"}`,
		`{"unevaluatedProperties":false,"anyOf":[{"properties":{"a":{}}},{"$ref":"#"}]}`,
	}
}

func FuzzCheck(f *testing.F) {
	for _, tc := range loadCases(f) {
		f.Add([]byte(tc.previous()[0]), []byte(tc.New))
	}
	// A small enum here: the fuzzer minimizes what it finds, and minimizing
	// a 200 KB input stalls it; the big one runs in the test below.
	hostile := compatHostile(500)
	for i, h := range hostile {
		f.Add([]byte(h), []byte(hostile[(i+1)%len(hostile)]))
		f.Add([]byte(`{"type":"string"}`), []byte(h))
	}
	for _, s := range []string{`[]`, `1`, `"x"`, `null`, `{"type":7}`, `{`, "\xff", `{} []`} {
		f.Add([]byte(s), []byte(`{}`))
	}
	f.Fuzz(func(t *testing.T, old, next []byte) {
		for _, lenient := range []bool{false, true} {
			start := time.Now()
			res, err := Check(FullTransitive, lenient, next, [][]byte{old, next})
			require.Less(t, time.Since(start), 5*time.Second, "Check took too long")
			if err != nil {
				require.False(t, res.Compatible, "an error must not read as compatible")
				continue
			}
			require.True(t, schemaLike(old) && schemaLike(next), "accepted a document that is not a schema")
			require.Equal(t, len(res.Issues) == 0, res.Compatible)
			for _, is := range res.Issues {
				require.NotEmpty(t, is.Pointer)
				require.NotEmpty(t, is.Rule)
				require.NotEmpty(t, is.Message)
				require.NotEmpty(t, is.Fix)
				require.Contains(t, []int{1, 2}, is.Against)
				for _, goism := range []string{"nil", "map[", "%!"} {
					require.NotContains(t, is.Message+is.Fix, goism)
				}
			}
		}
	})
}

// schemaLike tells whether a document is one JSON object or boolean,
// the least a schema must be.
func schemaLike(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	var v any
	if dec.Decode(&v) != nil || dec.More() {
		return false
	}
	switch v.(type) {
	case map[string]any, bool:
		return true
	}
	return false
}

// The hostile documents are also checked on every test run, not only when
// fuzzing, against each other and against a plain schema.
func TestCheckBoundsHostileSchemas(t *testing.T) {
	t.Parallel()
	hostile := compatHostile(20000)
	for i, a := range hostile {
		for _, b := range []string{hostile[(i+1)%len(hostile)], `{"type":"string"}`, a} {
			// The work bound is the checker's own budget (maxDepth and
			// friends); its cost is measured by the benchmarks, never timed here.
			res, err := Check(FullTransitive, false, []byte(b), [][]byte{[]byte(a)})
			require.NoError(t, err, "hostile document %d", i)
			require.Equal(t, len(res.Issues) == 0, res.Compatible)
		}
	}
}

func TestCheckRefusesTooDeepSchemas(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"items":`, maxDepth+10) + `{}` + strings.Repeat(`}`, maxDepth+10)
	_, err := Check(Backward, false, []byte(deep), [][]byte{[]byte(`{}`)})
	require.ErrorIs(t, err, errTooLarge)
}

func TestCheckIsDeterministic(t *testing.T) {
	t.Parallel()
	old, next := orderSchemas()
	first, err := Check(FullTransitive, false, next, [][]byte{old, old})
	require.NoError(t, err)
	for range 5 {
		again, err := Check(FullTransitive, false, next, [][]byte{old, old})
		require.NoError(t, err)
		require.Equal(t, first, again)
	}
}

// When the budget runs out, the verdict is "incompatible, too complex",
// never a silent "compatible".
func TestCheckBudgetRunsOut(t *testing.T) {
	t.Parallel()
	old, next := orderSchemas()
	a, err := compatCompile(old)
	require.NoError(t, err)
	b, err := compatCompile(next)
	require.NoError(t, err)
	c := newChecker(false, false)
	c.budget = 30
	issues := c.run(a, b)
	require.NotEmpty(t, issues)
	require.Equal(t, "too-complex", issues[len(issues)-1].Rule)
	require.Equal(t, "#", issues[len(issues)-1].Pointer)
}

package contract

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	"github.com/weir-dev/weir/internal/contract/compat"
)

// soundCase is the part of a case of compat/testdata/*.json this test reads:
// an earlier schema (or a history of them, oldest first) and a new one.
type soundCase struct {
	Name    string            `json:"name"`
	Old     json.RawMessage   `json:"old,omitempty"`
	History []json.RawMessage `json:"history,omitempty"`
	New     json.RawMessage   `json:"new"`
}

func (tc soundCase) previous() [][]byte {
	if len(tc.History) == 0 {
		return [][]byte{tc.Old}
	}
	out := make([][]byte, len(tc.History))
	for i, h := range tc.History {
		out[i] = h
	}
	return out
}

// soundCases reads the compatibility checker's cases. The test lives here,
// not with the checker, because it needs the validator (compile), and the
// checker's package cannot import the registry's.
func soundCases(t *testing.T) []soundCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("compat", "testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var all []soundCase
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var cases []soundCase
		require.NoError(t, json.Unmarshal(raw, &cases), f)
		all = append(all, cases...)
	}
	return all
}

// TestCompatSoundAgainstValidator holds the checker to its promise with the
// validator weir really uses: wherever Check says a mode is compatible, no
// event valid under the schema it protects may be refused by the other one.
// Events are generated from what the two schemas mention (names, values,
// limits), which finds the counterexamples that matter in practice.
func TestCompatSoundAgainstValidator(t *testing.T) {
	t.Parallel()
	confirmed, cases := 0, 0
	for _, tc := range soundCases(t) {
		newS := oracle(t, tc.New)
		if newS == nil {
			continue
		}
		events := compatEvents(tc.Name, append([][]byte{tc.New}, tc.previous()...))
		for i, prev := range tc.previous() {
			oldS := oracle(t, prev)
			if oldS == nil {
				continue
			}
			for _, dir := range []struct {
				mode     compat.Mode
				from, to *jsonschema.Schema
			}{{compat.Backward, oldS, newS}, {compat.Forward, newS, oldS}} {
				res, err := compat.Check(dir.mode, false, tc.New, [][]byte{prev})
				require.NoError(t, err)
				cases++
				found, ok := compatCounterexample(dir.from, dir.to, events)
				if res.Compatible {
					require.False(t, ok, "%s (version %d, %s) is said to be compatible, but this event is refused: %s",
						tc.Name, i+1, dir.mode, jsonText(found))
				} else if ok {
					confirmed++
				}
			}
		}
	}
	t.Logf("%d of %d checks; every compatible verdict held; %d incompatible verdicts confirmed by an event", cases, cases, confirmed)
}

func oracle(t *testing.T, schema []byte) *jsonschema.Schema {
	t.Helper()
	s, err := compile(schema)
	if err != nil {
		return nil // a remote reference: weir refuses those before checking
	}
	return s
}

func compatCounterexample(from, to *jsonschema.Schema, events []any) (any, bool) {
	for _, e := range events {
		if from.Validate(e) == nil && to.Validate(e) != nil {
			return e, true
		}
	}
	return nil, false
}

// compatEvents generates candidate events from the schemas' own words.
func compatEvents(seed string, docs [][]byte) []any {
	h := fnv.New64a()
	h.Write([]byte(seed))
	r := rand.New(rand.NewPCG(h.Sum64(), 7))
	pool := []any{nil, true, false, 0, 1, -1, 2, 2.5, -0.5, 3, 4, 5, 6, 7, 10, 100, 1000, "", "a", "x", "abc", "ABC-12",
		"2024-01-31", "2024-01-31T10:00:00Z", "héllo", "US", "card", "bank", "cash", "v1", "v2", "EUR", "USD", "x1", "GIFT",
		"small", "large", "S", "M", "L", strings.Repeat("z", 25), []any{}, map[string]any{}}
	names := []string{"a", "b", "zz"}
	for _, d := range docs {
		var v any
		if json.Unmarshal(d, &v) == nil {
			harvest(v, &pool, &names)
		}
	}
	var value func(depth int) any
	value = func(depth int) any {
		switch k := r.IntN(10); {
		case depth > 3 || k < 6:
			return pool[r.IntN(len(pool))]
		case k < 8:
			obj := map[string]any{}
			for range r.IntN(4) {
				obj[names[r.IntN(len(names))]] = value(depth + 1)
			}
			return obj
		default:
			list := make([]any, r.IntN(6))
			for i := range list {
				list[i] = value(depth + 1)
			}
			return list
		}
	}
	events := slices.Clone(pool)
	for range 600 {
		obj := map[string]any{}
		for _, n := range names {
			if r.IntN(3) > 0 {
				obj[n] = value(1)
			}
		}
		events = append(events, obj, value(0))
	}
	// Decode the way the validator expects (json.Number for numbers).
	out := make([]any, 0, len(events))
	for _, e := range events {
		b, _ := json.Marshal(e)
		if v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b)); err == nil {
			out = append(out, v)
		}
	}
	return out
}

var literalStart = regexp.MustCompile(`^\^([A-Za-z0-9_]*)`)

// harvest collects values, limits and property names from a schema.
func harvest(v any, pool *[]any, names *[]string) {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			harvest(e, pool, names)
		}
	case map[string]any:
		for k, e := range t {
			switch k {
			case "enum", "examples":
				if list, ok := e.([]any); ok {
					*pool = append(*pool, list...)
				}
			case "const", "default":
				*pool = append(*pool, e)
			case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf":
				if f, ok := e.(float64); ok {
					*pool = append(*pool, f, f-1, f+1, f-0.5, f+0.5, f*2, f*3)
				}
			case "minLength", "maxLength":
				if f, ok := e.(float64); ok && f < 100 {
					for _, n := range []int{int(f) - 1, int(f), int(f) + 1} {
						if n >= 0 {
							*pool = append(*pool, strings.Repeat("q", n), strings.Repeat("Q", n))
						}
					}
				}
			case "properties", "dependentSchemas", "dependentRequired", "dependencies":
				if m, ok := e.(map[string]any); ok {
					for n := range m {
						*names = append(*names, n)
					}
				}
			case "patternProperties":
				if m, ok := e.(map[string]any); ok {
					for p := range m {
						if g := literalStart.FindStringSubmatch(p); g != nil {
							*names = append(*names, g[1]+"x")
						}
					}
				}
			case "required":
				if list, ok := e.([]any); ok {
					for _, n := range list {
						if s, ok := n.(string); ok {
							*names = append(*names, s)
						}
					}
				}
			}
			harvest(e, pool, names)
		}
	}
}

package compat

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// compatCase is one case of testdata/*.json: an earlier schema (or a
// history of them, oldest first) and a new one, with the verdict expected per
// mode.
type compatCase struct {
	Name    string            `json:"name"`
	Note    string            `json:"note,omitempty"`
	Old     json.RawMessage   `json:"old,omitempty"`
	History []json.RawMessage `json:"history,omitempty"`
	New     json.RawMessage   `json:"new"`
	// Expect maps a mode name to the strict verdict. FULL must be BACKWARD
	// and FORWARD together; with one earlier version a _TRANSITIVE mode
	// gives what its plain mode gives.
	Expect map[string]bool `json:"expect"`
	// ExpectLenient overrides Expect where lenient checking differs.
	ExpectLenient map[string]bool `json:"expect_lenient,omitempty"`
	// Rules must all appear in the strict BACKWARD or FORWARD result
	// (their _TRANSITIVE forms for a history).
	Rules []string `json:"rules,omitempty"`
	file  string
}

func (tc compatCase) previous() [][]byte {
	if len(tc.History) > 0 {
		out := make([][]byte, len(tc.History))
		for i, h := range tc.History {
			out[i] = h
		}
		return out
	}
	return [][]byte{tc.Old}
}

func loadCases(t testing.TB) []compatCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var all []compatCase
	names := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var cases []compatCase
		require.NoError(t, json.Unmarshal(raw, &cases), f)
		for _, tc := range cases {
			tc.file = filepath.Base(f)
			require.NotEmpty(t, tc.Name, f)
			require.False(t, names[tc.Name], "two cases named %q", tc.Name)
			names[tc.Name] = true
			require.True(t, len(tc.Old) > 0 || len(tc.History) > 0, tc.Name)
			require.NotEmpty(t, tc.Expect, tc.Name)
			all = append(all, tc)
		}
	}
	return all
}

// want is the expected verdict of a mode, derived from what the case says.
func (tc compatCase) want(mode Mode, lenient bool) (bool, bool) {
	get := func(m Mode) (bool, bool) {
		if lenient {
			if v, ok := tc.ExpectLenient[string(m)]; ok {
				return v, true
			}
		}
		v, ok := tc.Expect[string(m)]
		return v, ok
	}
	if v, ok := get(mode); ok {
		return v, true
	}
	single := len(tc.History) <= 1
	switch mode {
	case None:
		return true, true
	case Full:
		b, okB := get(Backward)
		f, okF := get(Forward)
		return b && f, okB && okF
	case BackwardTransitive, ForwardTransitive, FullTransitive:
		if single {
			return tc.want(Mode(strings.TrimSuffix(string(mode), "_TRANSITIVE")), lenient)
		}
	}
	return false, false
}

func TestCompatCases(t *testing.T) {
	t.Parallel()
	for _, tc := range loadCases(t) {
		t.Run(tc.file+"/"+tc.Name, func(t *testing.T) {
			t.Parallel()
			for _, lenient := range []bool{false, true} {
				for _, mode := range compatModes {
					want, ok := tc.want(mode, lenient)
					if !ok {
						continue
					}
					res, err := Check(mode, lenient, tc.New, tc.previous())
					require.NoError(t, err)
					require.Equal(t, want, res.Compatible, "%s lenient=%v: %s", mode, lenient, dump(res))
					require.Equal(t, len(res.Issues) == 0, res.Compatible)
					require.Equal(t, mode, res.Mode)
					require.Equal(t, lenient, res.Lenient)
					requireGoodIssues(t, res, tc)
				}
			}
			if len(tc.Rules) > 0 {
				var got []string
				for _, mode := range []Mode{BackwardTransitive, ForwardTransitive} {
					res, err := Check(mode, false, tc.New, tc.previous())
					require.NoError(t, err)
					for _, is := range res.Issues {
						got = append(got, is.Rule)
					}
				}
				for _, r := range tc.Rules {
					require.Contains(t, got, r, "rules found: %v", got)
				}
			}
		})
	}
}

// requireGoodIssues checks what every issue must carry: a pointer that
// exists in the new schema (or the earlier one), a known rule, and text
// for a person, not for a programmer.
func requireGoodIssues(t *testing.T, res Result, tc compatCase) {
	t.Helper()
	for _, is := range res.Issues {
		require.NotEmpty(t, is.Pointer)
		require.NotEmpty(t, is.Rule)
		require.NotEmpty(t, is.Message)
		require.NotEmpty(t, is.Fix)
		require.Contains(t, []string{"backward", "forward"}, is.Direction)
		require.GreaterOrEqual(t, is.Against, 1)
		require.LessOrEqual(t, is.Against, len(tc.previous()))
		require.Regexp(t, `^[a-z]+(-[a-z]+)*$`, is.Rule)
		require.True(t, ruleDocumented(is.Rule), "rule %q is not listed in text.go", is.Rule)
		for _, text := range []string{is.Message, is.Fix} {
			for _, goism := range []string{"nil", "map[", "%!", "<nil>", "[]interface", "\\x"} {
				require.NotContains(t, text, goism)
			}
			require.True(t, strings.HasSuffix(text, "."), text)
			require.Equal(t, strings.ToUpper(text[:1]), text[:1], text)
		}
		if is.Pointer == "#" {
			continue
		}
		docs := [][]byte{tc.New, tc.previous()[is.Against-1]}
		found := slices.ContainsFunc(docs, func(d []byte) bool { return resolves(d, is.Pointer) })
		require.True(t, found, "pointer %s of %s is in neither schema", is.Pointer, is.Rule)
	}
}

func resolves(doc []byte, ptr string) bool {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return false
	}
	for _, seg := range strings.Split(ptr, "/")[1:] {
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		switch t := v.(type) {
		case map[string]any:
			next, ok := t[seg]
			if !ok {
				return false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(t) {
				return false
			}
			v = t[i]
		default:
			return false
		}
	}
	return true
}

func ruleDocumented(rule string) bool {
	src, err := os.ReadFile("text.go")
	if err != nil {
		return false
	}
	if strings.Contains(string(src), "\""+rule+"\"") || strings.Contains(string(src), " "+rule+" ") || strings.Contains(string(src), " "+rule+",") || strings.Contains(string(src), " "+rule+"\n") {
		return true
	}
	for _, kind := range []string{"minimum", "maximum", "multiple-of", "min-length", "max-length", "pattern", "format", "min-properties", "max-properties", "min-items", "max-items"} {
		for _, change := range []string{"-added", "-removed", "-increased", "-decreased", "-changed"} {
			if rule == kind+change {
				return true
			}
		}
	}
	return false
}

func dump(res Result) string {
	b, _ := json.MarshalIndent(res.Issues, "", "  ")
	return string(b)
}

// The data covers the brief: at least 80 pairs, and every rule the checker
// can give appears in at least one case.
func TestCompatCasesCoverEveryRule(t *testing.T) {
	t.Parallel()
	cases := loadCases(t)
	require.GreaterOrEqual(t, len(cases), 80)
	seen := map[string]bool{}
	for _, tc := range cases {
		for _, mode := range []Mode{BackwardTransitive, ForwardTransitive} {
			res, err := Check(mode, false, tc.New, tc.previous())
			require.NoError(t, err)
			for _, is := range res.Issues {
				seen[is.Rule] = true
			}
		}
	}
	var all []string
	for _, line := range strings.Split(allRules, "\n") {
		for _, r := range strings.Fields(line) {
			if strings.HasPrefix(r, "*") {
				for _, change := range []string{"-added", "-removed", "-increased", "-decreased"} {
					all = append(all, r[1:]+change)
				}
				continue
			}
			all = append(all, r)
		}
	}
	var missing []string
	for _, r := range all {
		require.True(t, ruleDocumented(r), "rule %s is not documented", r)
		if !seen[r] {
			missing = append(missing, r)
		}
	}
	require.Empty(t, missing, "no case gives these rules")
	for r := range seen {
		require.Contains(t, all, r, "rule %s is missing from allRules", r)
	}
}

// allRules lists every rule; *x stands for x-added, x-removed,
// x-increased and x-decreased.
const allRules = `
type-narrowed type-widened type-changed null-removed null-added
enum-value-removed enum-value-added enum-added enum-removed const-added const-removed const-changed
value-refused now-forbidden no-longer-forbidden
*minimum *maximum multiple-of-added multiple-of-removed multiple-of-changed
*min-length *max-length pattern-added pattern-removed pattern-changed format-added format-removed format-changed
required-added required-added-with-default required-removed
property-added-to-open-object property-removed-from-open-object
property-added-to-closed-object property-removed-from-closed-object object-closed object-opened
*min-properties *max-properties property-names-added property-names-removed property-names-changed
dependent-required-added dependent-required-removed
dependent-schema-added dependent-schema-removed dependent-schema-changed
*min-items *max-items unique-items-added unique-items-removed contains-added contains-removed contains-changed
tuple-item-added-to-open-array tuple-item-removed-from-open-array
tuple-item-added-to-closed-array tuple-item-removed-from-closed-array array-closed array-opened
any-of-branch-removed any-of-branch-added one-of-branch-removed one-of-branch-added one-of-ambiguous
not-added not-removed not-changed conditional-added conditional-removed conditional-changed
external-ref unsupported-keyword too-complex
`

func TestParseModeCompat(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Mode{"": Backward, "backward": Backward, "Full_Transitive": FullTransitive, "NONE": None, "forward": Forward} {
		got, err := ParseMode(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := ParseMode("sideways")
	require.ErrorContains(t, err, "BACKWARD_TRANSITIVE")
	_, err = Check("sideways", false, []byte(`{}`), nil)
	require.Error(t, err)
}

func TestCheckRefusesWhatIsNotASchema(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{``, `[]`, `3`, `"x"`, `null`, `{"type": 5}`, `{"type": "strng"}`, `{} {}`,
		`{"properties": []}`, `{"required": "a"}`, `{"minLength": -1}`, `{"multipleOf": 0}`, `{"anyOf": []}`,
		`{"$ref": "#/$defs/missing"}`, `{"items": [1]}`, `{"items": [{}]}`, `{"enum": 3}`, `{"pattern": 4}`, `{"$ref": 7}`,
		`{"exclusiveMinimum": true}`, `{"$ref": "#nowhere"}`} {
		_, err := Check(Backward, false, []byte(doc), [][]byte{[]byte(`{}`)})
		require.Error(t, err, doc)
		_, err = Check(Backward, false, []byte(`{}`), [][]byte{[]byte(doc)})
		require.ErrorContains(t, err, "version 1", doc)
	}
}

func TestCheckAcceptsEachDraftsOwnForms(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		`{"$schema": "http://json-schema.org/draft-07/schema#", "items": [{}], "additionalItems": false}`,
		`{"$schema": "https://json-schema.org/draft/2019-09/schema", "items": [{}]}`,
		`{"$schema": "http://json-schema.org/draft-04/schema#", "minimum": 0, "exclusiveMinimum": true}`,
		`{"$schema": "http://json-schema.org/draft-07/schema#", "$ref": "#/definitions/a", "definitions": {"a": {}}}`,
	} {
		res, err := Check(Full, false, []byte(doc), [][]byte{[]byte(doc)})
		require.NoError(t, err, doc)
		require.True(t, res.Compatible, doc)
	}
}

func TestCheckNoneAndNoHistory(t *testing.T) {
	t.Parallel()
	res, err := Check(None, false, []byte(`{"type":"string"}`), [][]byte{[]byte(`{"type":"integer"}`)})
	require.NoError(t, err)
	require.True(t, res.Compatible)
	require.NotNil(t, res.Issues)
	res, err = Check(FullTransitive, false, []byte(`{"type":"string"}`), nil)
	require.NoError(t, err)
	require.True(t, res.Compatible)
	b, err := json.Marshal(res)
	require.NoError(t, err)
	require.JSONEq(t, `{"compatible":true,"mode":"FULL_TRANSITIVE","lenient":false,"issues":[]}`, string(b))
}

// The issues of a transitive check say which earlier version they conflict with.
func TestCheckTransitiveNamesTheVersion(t *testing.T) {
	t.Parallel()
	v1 := []byte(`{"type":"object","properties":{"n":{"type":"number"}}}`)
	v2 := []byte(`{"type":"object","properties":{"n":{"type":"integer"}}}`)
	res, err := Check(BackwardTransitive, false, v2, [][]byte{v1, v2})
	require.NoError(t, err)
	require.False(t, res.Compatible)
	require.Len(t, res.Issues, 1)
	require.Equal(t, 1, res.Issues[0].Against)
	require.Equal(t, "type-narrowed", res.Issues[0].Rule)
	require.Equal(t, "/properties/n/type", res.Issues[0].Pointer)
}

// Every rule in the wording table gives a message and a fix in both
// directions, with every template name filled in.
func TestExplanationsWordEveryRule(t *testing.T) {
	t.Parallel()
	d := detail{was: "1", now: "2", limit: "3", outside: "more than 3 entries", name: "x", names: []string{"p"},
		values: []any{1}, parent: "p", lost: ckString, wasT: ckString, nowT: ckNumber, declT: ckInt}
	rules := slices.Sorted(maps.Keys(explanations))
	rules = append(rules, "minimum-added", "max-length-decreased", "min-items-removed")
	for _, rule := range rules {
		for _, forward := range []bool{false, true} {
			msg, fix := explain(rule, forward, "a.b", d)
			require.NotEmpty(t, msg, rule)
			require.NotEmpty(t, fix, rule)
			for _, s := range []string{msg, fix} {
				require.NotRegexp(t, `\{[a-zA-Z]+\}`, s, "%s (forward %v)", rule, forward)
			}
		}
	}
}

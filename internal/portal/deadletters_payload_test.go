package portal

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPayloadLinesKeepOrderAndMarkPointers(t *testing.T) {
	raw := []byte(`{"z":1,"a/b":{"x":[true,null,"<s>"]},"e":{},"l":[],"total":"12"}`)
	lines, err := payloadLines(raw, map[string][]string{"/total": {"type: must be a number"}, "/a~1b/x/2": {"bad"}})
	require.NoError(t, err)
	var text []string
	for _, l := range lines {
		text = append(text, l.Text)
	}
	require.Equal(t, []string{
		`{`, `  "z": 1,`, `  "a/b": {`, `    "x": [`, `      true,`, `      null,`, `      "<s>"`, `    ]`, `  },`,
		`  "e": {},`, `  "l": [],`, `  "total": "12"`, `}`,
	}, text)
	var failing []string
	for _, l := range lines {
		if l.Failing {
			failing = append(failing, l.Pointer)
		}
	}
	require.Equal(t, []string{"/a~1b/x/2", "/total"}, failing)
	_, err = payloadLines([]byte(`{"a":1} {}`), nil)
	require.Error(t, err)
	_, err = payloadLines([]byte(`[`+strings.Repeat(`1,`, maxPayloadLines)+`1]`), nil)
	require.ErrorIs(t, err, errTooLong)

	v, ok := valueAt(raw, "/a~1b/x/2", 100)
	require.True(t, ok)
	require.Equal(t, `"<s>"`, v)
	_, ok = valueAt(raw, "/missing", 100)
	require.False(t, ok)
}

// FuzzPayloadLines checks that any payload either fails or renders to lines
// that hold the same JSON value, without a panic.
func FuzzPayloadLines(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":null}]}`, `"x"`, `[]`, `{"a~/":{"":1e5}}`, `{`, `1 2`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		lines, err := payloadLines(raw, map[string][]string{"": {"root"}})
		if err != nil {
			return
		}
		var b strings.Builder
		for _, l := range lines {
			b.WriteString(l.Text)
			b.WriteByte('\n')
		}
		var want, got any
		if json.Unmarshal(raw, &want) != nil {
			return // the decoder's tokens accept a little more than Unmarshal
		}
		require.NoError(t, json.Unmarshal([]byte(b.String()), &got), b.String())
		require.Equal(t, want, got)
		_, _ = valueAt(raw, "/a/0", 10)
	})
}

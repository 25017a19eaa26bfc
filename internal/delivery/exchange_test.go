package delivery

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestCutUTF8(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 3, "hel"},
		{"€€", 4, "€"},  // the second € is split: dropped whole
		{"€€", 6, "€€"}, // exactly
		{"a\xffb", 10, "a\uFFFDb"},
		{"", 5, ""},
	} {
		require.Equal(t, c.want, cutUTF8([]byte(c.in), c.n), "%q %d", c.in, c.n)
	}
}

func FuzzCutUTF8(f *testing.F) {
	f.Add([]byte("€€€"), 4)
	f.Add([]byte{0xe2, 0x82}, 1)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 4096 {
			return
		}
		out := cutUTF8(b, n)
		require.True(t, utf8.ValidString(out))
		if utf8.Valid(b) {
			require.LessOrEqual(t, len(out), n)
			require.True(t, strings.HasPrefix(string(b), out))
		}
	})
}

func TestBoundHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	for i := range 50 {
		h.Add(strings.Repeat("x", i+1), strings.Repeat("v", 1000))
	}
	h["A"] = []string{"1", "2", "3", "4", "5", "6"}
	out := boundHeaders(h)
	require.Len(t, out, headersKeep)
	require.Len(t, out["A"], headerValuesKeep)
	for k, vs := range out {
		require.LessOrEqual(t, len(k), headerValueKeep)
		for _, v := range vs {
			require.LessOrEqual(t, len(v), headerValueKeep)
		}
	}
	require.Nil(t, boundHeaders(nil))
}

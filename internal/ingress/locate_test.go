package ingress

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPointer(t *testing.T) {
	t.Parallel()
	doc, ok := decodeJSON([]byte(`{"a":{"b/c":[10,{"~d":"x"}]},"n":12345678901234567890,"t":true,"":"empty"}`))
	require.True(t, ok)
	cases := map[string]any{
		"/a/b~1c/0":      "10",
		"/a/b~1c/1/~0d":  "x",
		"/n":             "12345678901234567890",
		"/t":             "true",
		"/":              "empty",
		"/a/b~1c/2":      nil,
		"/a/b~1c/01":     nil,
		"/a/b~1c/-1":     nil,
		"/missing":       nil,
		"/a/b~1c/1/~0d/": nil,
	}
	for p, want := range cases {
		l := locator{pointer: p}
		got, found := l.find(nil, func() (any, bool) { return doc, true })
		if want == nil {
			require.False(t, found, p)
			continue
		}
		require.True(t, found, p)
		require.Equal(t, want, got, p)
	}
	// Objects and arrays are not ids or types.
	_, found := locator{pointer: "/a"}.find(nil, func() (any, bool) { return doc, true })
	require.False(t, found)
}

func TestLocatorHeader(t *testing.T) {
	t.Parallel()
	l, err := parseLocator("header:x-github-event")
	require.NoError(t, err)
	h := http.Header{}
	h.Set("X-GitHub-Event", "push")
	v, ok := l.find(h, nil)
	require.True(t, ok)
	require.Equal(t, "push", v)
	_, err = parseLocator("body:/x")
	require.Error(t, err)
}

func TestTraceparent(t *testing.T) {
	t.Parallel()
	valid := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	require.Equal(t, valid, Traceparent(valid))
	for _, bad := range []string{"", "garbage", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"} {
		got := Traceparent(bad)
		require.NotEqual(t, bad, got)
		require.True(t, validTraceparent(got), "a new trace context is valid: %s", got)
	}
}

func FuzzPointer(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"c"}]}`), "/a/1/b")
	f.Add([]byte(`[]`), "/0")
	f.Add([]byte(`{"~":{"/":1}}`), "/~0/~1")
	f.Fuzz(func(t *testing.T, body []byte, p string) {
		doc, ok := decodeJSON(body)
		if !ok {
			return
		}
		v, found := locator{pointer: p}.find(nil, func() (any, bool) { return doc, true })
		if found && v == "" {
			t.Fatalf("found an empty value for %q", p)
		}
	})
}

func FuzzTraceparent(f *testing.F) {
	f.Add("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	f.Add("")
	f.Fuzz(func(t *testing.T, tp string) {
		got := Traceparent(tp)
		if !validTraceparent(got) {
			t.Fatalf("Traceparent(%q) = %q, not valid", tp, got)
		}
		if validTraceparent(tp) && got != tp {
			t.Fatalf("a valid traceparent was replaced")
		}
	})
}

package view

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
)

func TestEncodeKey(t *testing.T) {
	t.Parallel()
	for k, want := range map[string]string{
		"order-1042": "order-1042",
		"a.b":        "a=2Eb",
		"order 1042": "order=201042",
		"=":          "=3D",
		"é":          "=C3=A9",
		"a/b_c":      "a/b_c",
	} {
		require.Equal(t, want, EncodeKey(k))
		back, err := DecodeKey(want)
		require.NoError(t, err)
		require.Equal(t, k, back)
	}
	for _, bad := range []string{"=", "=4", "=zz", "=41", "a.b", "*"} {
		_, err := DecodeKey(bad)
		require.Error(t, err, bad)
	}
}

// FuzzKeyEncoding checks that any key round-trips, gives a one-token KV
// key, keeps prefixes, and that any text is either a cursor weir gives or
// refused without a panic.
func FuzzKeyEncoding(f *testing.F) {
	f.Add("order-1042", "ord", "MTI6MA")
	f.Add("a.b c", "a.", "")
	f.Add("\x00\xff=", "=", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5Ojk")
	f.Fuzz(func(t *testing.T, key, prefix, cur string) {
		e := EncodeKey(key)
		for i := 0; i < len(e); i++ {
			if !keptByte(e[i]) && e[i] != '=' {
				t.Fatalf("%q encodes to %q with %q", key, e, e[i])
			}
		}
		back, err := DecodeKey(e)
		if err != nil || back != key {
			t.Fatalf("%q -> %q -> %q, %v", key, e, back, err)
		}
		if strings.HasPrefix(key, prefix) != strings.HasPrefix(e, EncodeKey(prefix)) {
			t.Fatalf("prefix %q of %q is not kept", prefix, key)
		}
		if c, err := parseCursor(cur); err == nil && cur != "" {
			again, err := parseCursor(c.String())
			if err != nil || again != c {
				t.Fatalf("cursor %q does not round-trip", cur)
			}
		}
	})
}

// TestCompileNamesTheField refuses bad views with the field named.
func TestCompileNamesTheField(t *testing.T) {
	t.Parallel()
	for want, v := range map[string]*config.View{
		"views.v.kind":        {Kind: "sum", Types: []string{"a.b"}},
		"views.v.types":       {Kind: "latest", Key: "/id"},
		"views.v.types[0]":    {Kind: "latest", Types: []string{"a..b"}, Key: "/id"},
		"views.v.key":         {Kind: "latest", Types: []string{"a.b"}, Key: "data.id +"},
		"views.v.filter":      {Kind: "latest", Types: []string{"a.b"}, Key: "/id", Filter: "nope =="},
		"views.v.delete_when": {Kind: "latest", Types: []string{"a.b"}, Key: "/id", DeleteWhen: "1 + 1"},
		"views.v.fields.x":    {Kind: "latest", Types: []string{"a.b"}, Key: "/id", Fields: map[string]string{"x": "y"}},
		"views.v.every":       {Kind: "count", Types: []string{"a.b"}, Every: config.Duration(1)},
		"views.v.by[0]":       {Kind: "count", Types: []string{"a.b"}, By: []string{"region"}},
		"views.v.by[1]":       {Kind: "count", Types: []string{"a.b"}, By: []string{"type", "/type"}},
		"views.v.sum":         {Kind: "count", Types: []string{"a.b"}, Sum: "total"},
		"views.v.key ":        {Kind: "count", Types: []string{"a.b"}, Key: "/id"},
		"views.v.by":          {Kind: "latest", Types: []string{"a.b"}, Key: "/id", By: []string{"type"}},
	} {
		_, err := Compile("v", v)
		var fe *field.Error
		require.ErrorAs(t, err, &fe, want)
		require.Equal(t, strings.TrimSpace(want), fe.Path, "%v", err)
	}
	// A CEL key giving a bool is refused; one giving a string is not.
	_, err := Compile("v", &config.View{Kind: "latest", Types: []string{"a.b"}, Key: "data.id == 1"})
	require.Error(t, err)
	s, err := Compile("v", &config.View{Kind: "latest", Types: []string{"a.b"}, Key: `string(data.id) + "-" + source`})
	require.NoError(t, err)
	require.NotNil(t, s.keyCEL)
	s, err = Compile("v", &config.View{Kind: "count", Types: []string{"a.b"}})
	require.NoError(t, err)
	require.Equal(t, "1m0s", s.Config.Every.D().String())
}

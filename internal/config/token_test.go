package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTokenSources(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
tokens:
  - {name: warehouse, secret: 0123456789abcdefg, roles: ["publish:order.*"], sources: [/apps/warehouse, "urn:acme:"]}
`), env(nil))
	require.NoError(t, err)
	require.Equal(t, []string{"/apps/warehouse", "urn:acme:"}, cfg.Tokens[0].Sources)

	for in, want := range map[string]string{
		`tokens: [{name: a, secret: 0123456789abcdefg, roles: [admin], sources: [""]}]`:             "tokens[0].sources[0]: must not be empty",
		`tokens: [{name: a, secret: 0123456789abcdefg, roles: [admin], sources: ["/a b"]}]`:         "tokens[0].sources[0]:",
		`tokens: [{name: a, secret: 0123456789abcdefg, roles: [admin], sources: [/x, /sources/s]}]`: "tokens[0].sources[1]: \"/sources/s\": /sources/ is reserved to webhook ingress",
	} {
		_, err := Parse([]byte(in), env(nil))
		require.ErrorContains(t, err, want, in)
	}
}

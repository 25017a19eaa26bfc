package token

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCanAndAuthenticate(t *testing.T) {
	t.Parallel()
	s := NewStore([]Token{
		{Name: "admin", Hash: Hash("admin-secret-0123456789"), Roles: []string{"admin"}},
		{Name: "app", Hash: Hash("app-secret-0123456789"), Roles: []string{"publish:order.*", "subscribe:invoice.>"}},
	})
	req := func(h string) *http.Request {
		r, _ := http.NewRequest("GET", "/", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		return r
	}
	_, err := s.Authenticate(req(""))
	require.ErrorIs(t, err, ErrMissing)
	_, err = s.Authenticate(req("Basic abc"))
	require.ErrorIs(t, err, ErrMissing)
	_, err = s.Authenticate(req("Bearer wrong"))
	require.ErrorIs(t, err, ErrUnknown)
	tok, err := s.Authenticate(req("bearer app-secret-0123456789"))
	require.NoError(t, err)
	require.True(t, tok.Can("publish", "order.created"))
	require.False(t, tok.Can("publish", "invoice.paid"))
	require.True(t, tok.Can("subscribe", "invoice.paid.eu"))
	require.False(t, tok.Can("subscribe", "order.created"))
	require.False(t, tok.IsAdmin())
}

func TestBootstrapCreatesOnce(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	b, err := LoadBootstrap(dir)
	require.NoError(t, err)
	require.NotEmpty(t, b.Secret)
	require.Equal(t, Hash(b.Secret), b.Token.Hash)

	// Not saved: the next load makes another, still to be shown.
	unsaved, err := LoadBootstrap(dir)
	require.NoError(t, err)
	require.NotEmpty(t, unsaved.Secret)
	require.NotEqual(t, b.Token, unsaved.Token)

	require.NoError(t, b.Save())
	info, err := os.Stat(BootstrapPath(dir))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	again, err := LoadBootstrap(dir)
	require.NoError(t, err)
	require.Empty(t, again.Secret, "the secret is shown only when created")
	require.Equal(t, b.Token, again.Token)
	require.NoError(t, again.Save(), "saving a kept token does nothing")
}

func TestCovers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		role, sub string
		want      bool
	}{
		{"order.*", "order.created", true},
		{"order.*", "order.*", true},
		{"order.*", "order.>", false},
		{"order.>", "order.*", true},
		{"order.>", "order.>", true},
		{"order.>", "order", false},
		{">", "anything.>", true},
		{"order.created", "order.*", false},
		{"*.created", "order.created", true},
		{"*.created", "*.*", false},
	}
	for _, c := range cases {
		require.Equal(t, c.want, Covers(c.role, c.sub), "%s covers %s", c.role, c.sub)
	}
	tok := &Token{Roles: []string{"subscribe:order.*", "publish:>"}}
	require.True(t, tok.CanSubscribe([]string{"order.created", "order.*"}))
	require.False(t, tok.CanSubscribe([]string{"order.created", "invoice.paid"}))
}

func TestCanSource(t *testing.T) {
	t.Parallel()
	free := &Token{Name: "any", Roles: []string{"publish:>"}}
	require.True(t, free.CanSource("/apps/anything"), "no binding: any source")

	tok := &Token{Name: "wh", Roles: []string{"publish:>"}, Sources: []string{"/apps/warehouse", "urn:acme:"}}
	for _, ok := range []string{"/apps/warehouse", "/apps/warehouse/eu", "/apps/warehouse?x=1", "/apps/warehouse/./eu", "urn:acme:orders"} {
		require.True(t, tok.CanSource(ok), ok)
	}
	for _, bad := range []string{"/apps/warehouse2", "/apps/ware", "/apps/warehouse/../billing", "/apps/billing", "urn:acme", "https://x/apps/warehouse"} {
		require.False(t, tok.CanSource(bad), bad)
	}
}

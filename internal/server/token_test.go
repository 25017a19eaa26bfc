package server

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/token"
	"github.com/weir-dev/weir/internal/weirtest"
)

// adminSecretIn finds the generated admin token in what weir showed.
func adminSecretIn(out string) string {
	for f := range strings.FieldsSeq(out) {
		if strings.HasPrefix(f, token.Prefix) {
			return f
		}
	}
	return ""
}

// A start that fails (here: the port is taken) must not use up the one time
// the generated admin token is shown; the next good start shows it.
func TestAdminTokenShownAfterAFailedStart(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	cfg := testConfig(t)
	cfg.Tokens = nil
	cfg.Server.Addr = taken.Addr().String()

	var out bytes.Buffer
	err = New(cfg, discardLogger(), &out).Start(context.Background())
	require.ErrorContains(t, err, "server.addr")
	require.Empty(t, out.String(), "nothing shown by a start that failed")
	_, err = os.Stat(token.BootstrapPath(cfg.DataDir))
	require.ErrorIs(t, err, os.ErrNotExist, "no token kept that nobody saw")

	cfg.Server.Addr = "127.0.0.1:0"
	b := start(t, cfg)
	secret := adminSecretIn(b.out.String())
	require.NotEmpty(t, secret, "the next good start shows the token: %q", b.out.String())
	r := do(t, apiRequest(t, "GET", b.base+"/v1/whoami", secret, "", ""))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
}

// Declaring tokens: in weir.yaml replaces the generated admin token; weir says
// so at start, and how to get an admin token back.
func TestDeclaredTokensReplacingTheGeneratedOneAreLogged(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Tokens = nil
	first := start(t, cfg)
	require.NotEmpty(t, adminSecretIn(first.out.String()))
	require.NoError(t, first.srv.Stop(t.Context()))

	startLogged := func(tokens []config.Token) string {
		t.Helper()
		c := *cfg
		c.Tokens = tokens
		var log weirtest.LockedBuffer
		srv := New(&c, slog.New(slog.NewTextHandler(&log, nil)), &bytes.Buffer{})
		require.NoError(t, srv.Start(context.Background()))
		require.NoError(t, srv.Stop(context.Background()))
		return log.String()
	}
	// Only a publish token: nobody is admin any more.
	log := startLogged([]config.Token{{Name: "orders-app", Secret: pubSecret, Roles: []string{"publish:order.*"}}})
	require.Contains(t, log, "level=WARN")
	require.Contains(t, log, "tokens are declared in weir.yaml, so the generated admin token is not used")
	require.Contains(t, log, "declare a token with roles: [admin]")
	require.Contains(t, log, "remove tokens:")
	require.Contains(t, log, token.BootstrapPath(cfg.DataDir))

	// With an admin token declared it is said, not warned.
	log = startLogged([]config.Token{{Name: "root", Secret: adminSecret, Roles: []string{"admin"}}})
	require.Contains(t, log, "level=INFO")
	require.Contains(t, log, "tokens are declared in weir.yaml, so the generated admin token is not used")
	require.NotContains(t, log, "level=WARN")
}

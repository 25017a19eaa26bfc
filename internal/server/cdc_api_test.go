package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
)

// This build reads PostgreSQL: Check takes a postgres source and names a
// bad field of it; a kind no registered reader reads is refused, naming
// its section.
func TestCheckCDCSource(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.CDC = map[string]*config.CDC{"shop": {Postgres: &config.PostgresCDC{DSN: "postgres://localhost/shop", Tables: map[string]*config.CDCTable{"orders": {}}}}}
	cfg.WithDefaults()
	require.NoError(t, Check(cfg))
	var fe *field.Error
	require.ErrorAs(t, cdc.CheckConfig(cdc.NewRegistry(), cfg.CDC), &fe)
	require.Equal(t, "cdc.shop.postgres", fe.Path)

	cfg.CDC["shop"].Postgres.DSN = ""
	require.ErrorAs(t, Check(cfg), &fe)
	require.Equal(t, "cdc.shop.postgres.dsn", fe.Path)
}

func TestCDCRoutesAreForAdmins(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	r := do(t, sinkRequest(t, "GET", b.base+"/v1/cdc", pubSecret, ""))
	require.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	r = do(t, sinkRequest(t, "POST", b.base+"/v1/cdc/shop/pause", pubSecret, ""))
	require.Equal(t, http.StatusForbidden, r.status, string(r.raw))

	r = do(t, sinkRequest(t, "GET", b.base+"/v1/cdc", adminSecret, ""))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.JSONEq(t, `{"sources":[]}`, string(r.raw))
	for _, path := range []string{"/v1/cdc/nope"} {
		r = do(t, sinkRequest(t, "GET", b.base+path, adminSecret, ""))
		require.Equal(t, http.StatusNotFound, r.status, string(r.raw))
		require.Contains(t, string(r.raw), "unknown-cdc-source")
	}
	r = do(t, sinkRequest(t, "POST", b.base+"/v1/cdc/nope/backfill", adminSecret, `{"table":"public.orders"}`))
	require.Equal(t, http.StatusNotFound, r.status, string(r.raw))
	// A body over the API's 1 MiB is refused as too large, before the
	// source is looked at further.
	big := `{"table":"public.orders","where":"` + strings.Repeat("a", 2<<20) + `"}`
	r = do(t, sinkRequest(t, "POST", b.base+"/v1/cdc/shop/backfill", adminSecret, big))
	require.Equal(t, http.StatusNotFound, r.status, "no source shop here: named first")
	r = do(t, sinkRequest(t, "POST", b.base+"/v1/subscriptions", adminSecret, big))
	require.Equal(t, http.StatusRequestEntityTooLarge, r.status, string(r.raw))
	require.Contains(t, string(r.raw), "body-too-large")
	// An unknown source is named first, whatever the body.
	r = do(t, sinkRequest(t, "POST", b.base+"/v1/cdc/nope/backfill", adminSecret, `{"table":"orders; drop table x"}`))
	require.Equal(t, http.StatusNotFound, r.status, string(r.raw))
	require.Contains(t, string(r.raw), "unknown-cdc-source")
}

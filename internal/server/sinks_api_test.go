package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/weirtest"
)

func sinkRequest(t *testing.T, method, url, secret, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+secret)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// A sink of weir.yaml that weir could not run is refused before anything is
// created, naming the field.
func TestCheckRefusesABadSink(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Sinks = map[string]*config.Sink{"orders": {Types: []string{"order.*"}, ClickHouse: &config.ClickHouseSink{Addr: "localhost:9000"}}}
	cfg.WithDefaults()
	require.NoError(t, Check(cfg), "a ClickHouse sink is a kind this weir runs")

	cfg.Sinks["orders"].ClickHouse.Addr = ""
	var fe *field.Error
	require.ErrorAs(t, Check(cfg), &fe)
	require.Equal(t, "sinks.orders.clickhouse.addr", fe.Path)

	cfg.Sinks["orders"].ClickHouse = nil
	require.Error(t, Check(cfg), "a sink needs a provider section")
}

func TestSinksAPI(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))

	r := do(t, sinkRequest(t, http.MethodGet, b.base+"/v1/sinks", pubSecret, ""))
	require.Equal(t, http.StatusForbidden, r.status, "sinks hold store credentials: admin only")
	require.Equal(t, "Authorization", r.body["field"])

	r = do(t, sinkRequest(t, http.MethodGet, b.base+"/v1/sinks", adminSecret, ""))
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, []any{}, r.body["sinks"])

	r = do(t, sinkRequest(t, http.MethodGet, b.base+"/v1/sinks/nope", adminSecret, ""))
	require.Equal(t, http.StatusNotFound, r.status)
	require.Contains(t, r.header.Get("Content-Type"), "problem+json")

	for _, c := range []struct{ body, field string }{
		{`{"name":"orders","types":["order.*"],"clickhouse":{"addr":"nowhere"}}`, "clickhouse.addr"},
		{`{"name":"orders","types":["order.*"],"clickhouse":{"addr":"localhost:9000","batch":{"max_rows":0,"max_wait":"1ms"}}}`, "clickhouse.batch.max_wait"},
		{`{"name":"orders","types":[],"clickhouse":{"addr":"localhost:9000"}}`, "types"},
		{`{"name":"orders","types":["order.*"],"filter":"data.total >","clickhouse":{"addr":"localhost:9000"}}`, "filter"},
		{`{"name":"orders","types":["order.*"]}`, ""},
		{`{"name":"or ders","types":["order.*"],"clickhouse":{"addr":"localhost:9000"}}`, "name"},
		{`{"name":"orders","types":["order.*"],"clickhouse":{"addr":"localhost:9000","tables":{"t":{"type":"order.created","columns":{"c":{"pointer":"/c","type":"String) ENGINE=Log"}}}}}}`, "clickhouse.tables.t.columns.c.type"},
	} {
		r = do(t, sinkRequest(t, http.MethodPost, b.base+"/v1/sinks", adminSecret, c.body))
		require.Equal(t, http.StatusBadRequest, r.status, c.body)
		require.Equal(t, "https://weir.dev/problems/invalid-sink", r.body["type"], c.body)
		if c.field != "" {
			require.Equal(t, c.field, r.body["field"], c.body)
		}
	}

	// A sink whose store is not there is created all the same: it waits for
	// the store, failing, with its backlog on the bus.
	r = do(t, sinkRequest(t, http.MethodPost, b.base+"/v1/sinks", adminSecret, `{"name":"orders","types":["order.*"],"clickhouse":{"addr":"127.0.0.1:1"}}`))
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	weirtest.Eventually(t, 30*time.Second, func() error {
		r := do(t, sinkRequest(t, http.MethodGet, b.base+"/v1/sinks/orders", adminSecret, ""))
		if r.body["failing"] != true || r.body["last_error"] == nil {
			return fmt.Errorf("the sink is not failing: %s", r.raw)
		}
		return nil
	})
	r = do(t, sinkRequest(t, http.MethodDelete, b.base+"/v1/sinks/orders", adminSecret, ""))
	require.Equal(t, http.StatusNoContent, r.status, string(r.raw))

	r = do(t, sinkRequest(t, http.MethodPost, b.base+"/v1/sinks/nope/replay", adminSecret, `{"from":"yesterday"}`))
	require.Equal(t, http.StatusNotFound, r.status)
	r = do(t, sinkRequest(t, http.MethodPost, b.base+"/v1/sinks/nope/pause", adminSecret, ""))
	require.Equal(t, http.StatusNotFound, r.status)
	r = do(t, sinkRequest(t, http.MethodDelete, b.base+"/v1/sinks/nope", adminSecret, ""))
	require.Equal(t, http.StatusNotFound, r.status)
}

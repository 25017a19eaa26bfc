package server

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/sink"
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

// This build registers no sink provider yet: a sink of weir.yaml is
// refused before anything is created, naming its section.
func TestCheckRefusesASinkOfAnUnknownKind(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Sinks = map[string]*config.Sink{"orders": {Types: []string{"order.*"}, ClickHouse: &config.ClickHouseSink{Addr: "localhost:9000"}}}
	cfg.WithDefaults()
	err := Check(cfg)
	var fe *field.Error
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "sinks.orders.clickhouse", fe.Path)
	require.True(t, errors.Is(err, sink.ErrUnknownKind))

	cfg.Sinks["orders"].ClickHouse.Addr = ""
	require.ErrorAs(t, Check(cfg), &fe)
	require.Equal(t, "sinks.orders.clickhouse.addr", fe.Path)
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
		{`{"name":"orders","types":["order.*"],"clickhouse":{"addr":"localhost:9000"}}`, "clickhouse"},
		{`{"name":"orders","types":["order.*"],"clickhouse":{"addr":"localhost:9000","tables":{"t":{"type":"order.created","columns":{"c":{"pointer":"/c","type":"String) ENGINE=Log"}}}}}}`, "clickhouse.tables.t.columns.c.type"},
	} {
		r = do(t, sinkRequest(t, http.MethodPost, b.base+"/v1/sinks", adminSecret, c.body))
		require.Equal(t, http.StatusBadRequest, r.status, c.body)
		require.Equal(t, "https://weir.dev/problems/invalid-sink", r.body["type"], c.body)
		if c.field != "" {
			require.Equal(t, c.field, r.body["field"], c.body)
		}
	}

	r = do(t, sinkRequest(t, http.MethodPost, b.base+"/v1/sinks/nope/replay", adminSecret, `{"from":"yesterday"}`))
	require.Equal(t, http.StatusNotFound, r.status)
	r = do(t, sinkRequest(t, http.MethodPost, b.base+"/v1/sinks/nope/pause", adminSecret, ""))
	require.Equal(t, http.StatusNotFound, r.status)
	r = do(t, sinkRequest(t, http.MethodDelete, b.base+"/v1/sinks/nope", adminSecret, ""))
	require.Equal(t, http.StatusNotFound, r.status)
}

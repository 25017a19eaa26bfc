package server

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// POST /v1/cdc/{name}/backfill answers 202 with the backfill's id, the rows
// come onto the bus as op r, and GET /v1/cdc/{name} shows the progress. A
// table the source does not capture and a condition PostgreSQL refuses are
// 400s naming the field.
func TestCDCBackfillThroughTheAPI(t *testing.T) {
	t.Parallel()
	pg := weirtest.StartPostgres(t)
	pg.Exec(t, "", `CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders SELECT g, g FROM generate_series(1, 20) g`)
	cfg := testConfig(t)
	cfg.CDC = map[string]*config.CDC{"shop": {Postgres: &config.PostgresCDC{DSN: pg.DSN(), Snapshot: "never",
		Tables: map[string]*config.CDCTable{"orders": {}}}}}
	cfg.WithDefaults()
	b := start(t, cfg)
	weirtest.Eventually(t, 30*time.Second, func() error {
		r := do(t, sinkRequest(t, "GET", b.base+"/v1/cdc/shop", adminSecret, ""))
		if r.body["state"] != "streaming" {
			return fmt.Errorf("%s", r.raw)
		}
		return nil
	})

	r := do(t, sinkRequest(t, "POST", b.base+"/v1/cdc/shop/backfill", adminSecret, `{"table":"public.orders","where":"id > 15"}`))
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	id, _ := r.body["id"].(string)
	require.NotEmpty(t, id)

	var rows []map[string]any
	weirtest.Eventually(t, 30*time.Second, func() error {
		rows = rows[:0]
		for _, ev := range storedEvents(t, b.srv.Bus().JetStream(), "events.>") {
			if ev["type"] == "db.public.orders" {
				rows = append(rows, ev)
			}
		}
		if len(rows) != 5 {
			return fmt.Errorf("%d of 5 rows on the bus", len(rows))
		}
		return nil
	})
	for i, ev := range rows {
		require.Equal(t, fmt.Sprintf("weir_shop:backfill:%s:public.orders:%d", id, 16+i), ev["id"])
		require.Equal(t, fmt.Sprint(16+i), ev["subject"])
		data := ev["data"].(map[string]any)
		require.Equal(t, "r", data["op"])
		require.Equal(t, "incremental", data["source"].(map[string]any)["snapshot"])
	}
	weirtest.Eventually(t, 10*time.Second, func() error {
		r := do(t, sinkRequest(t, "GET", b.base+"/v1/cdc/shop", adminSecret, ""))
		snap, _ := r.body["snapshot"].([]any)
		if len(snap) != 1 {
			return fmt.Errorf("%s", r.raw)
		}
		p := snap[0].(map[string]any)
		if p["done"] != true {
			return fmt.Errorf("%s", r.raw)
		}
		require.Equal(t, map[string]any{"table": "public.orders", "kind": "backfill", "id": id, "where": "id > 15",
			"rows": float64(5), "estimate": p["estimate"], "done": true}, p)
		return nil
	})

	r = do(t, sinkRequest(t, "POST", b.base+"/v1/cdc/shop/backfill", adminSecret, `{"table":"orders; drop table x"}`))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Contains(t, string(r.raw), "must be schema.table")
	require.Contains(t, string(r.raw), `"field":"table"`)
	r = do(t, sinkRequest(t, "POST", b.base+"/v1/cdc/shop/backfill", adminSecret, `{"table":"public.other"}`))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Contains(t, string(r.raw), "public.other is not captured")
	require.Contains(t, string(r.raw), `"table"`)
	r = do(t, sinkRequest(t, "POST", b.base+"/v1/cdc/shop/backfill", adminSecret, `{"table":"public.orders","where":"nope = 1"}`))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Contains(t, string(r.raw), `column \"nope\" does not exist`)
	require.Contains(t, string(r.raw), `"where"`)
}

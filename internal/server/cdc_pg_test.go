package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// pgCDCYAML is the cdc section of a source "shop" reading tables of pg's
// database postgres, plus extra lines of its postgres section.
func pgCDCYAML(pg *weirtest.Postgres, tables []string, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cdc:\n  shop:\n    postgres:\n      dsn: %q\n", pg.DSN())
	if extra != "" {
		for _, l := range strings.Split(strings.TrimSpace(extra), "\n") {
			b.WriteString("      " + l + "\n")
		}
	}
	b.WriteString("      tables:\n")
	for _, t := range tables {
		fmt.Fprintf(&b, "        %s: {}\n", t)
	}
	return b.String()
}

// pgCDCConfig is the tests' configuration with a PostgreSQL cdc source,
// and subscriptions (YAML, may be empty).
func pgCDCConfig(t testing.TB, pg *weirtest.Postgres, tables []string, extra, more string) *config.Config {
	t.Helper()
	yaml := `
server: {addr: "127.0.0.1:0", shutdown_timeout: 10s}
log: {level: error}
tokens:
  - {name: admin, secret: ` + adminSecret + `, roles: [admin]}
` + pgCDCYAML(pg, tables, extra) + more
	cfg, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	return cfg
}

// cdcEvents reads the events stored under filter, in stream order.
func cdcEvents(t *testing.T, b *bundle, filter string) []map[string]any {
	t.Helper()
	return storedEvents(t, b.srv.Bus().JetStream(), filter)
}

// countStored is the number of messages stored under filter.
func countStored(js jetstream.JetStream, filter string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, nil
}

// waitStored waits until at least n messages are stored under filter.
func waitStored(t *testing.T, js jetstream.JetStream, filter string, n uint64, within time.Duration) {
	t.Helper()
	weirtest.Eventually(t, within, func() error {
		got, err := countStored(js, filter)
		if err != nil {
			return err
		}
		if got < n {
			return fmt.Errorf("%d of %d events stored under %s", got, n, filter)
		}
		return nil
	})
}

func evData(t *testing.T, ev map[string]any) map[string]any {
	t.Helper()
	d, ok := ev["data"].(map[string]any)
	require.True(t, ok, "data is a JSON object: %v", ev)
	return d
}

func rowOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// Insert, update with and without REPLICA IDENTITY FULL, delete and
// truncate, through weir from weir.yaml's cdc section onto the bus: the
// right CloudEvents in commit order, and a multi-row transaction in its
// order.
func TestPostgresCDCEventsOnTheBus(t *testing.T) {
	t.Parallel()
	pg := weirtest.StartPostgres(t)
	pg.Exec(t, "", `CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, note text);
CREATE TABLE full_orders (id int PRIMARY KEY, status text); ALTER TABLE full_orders REPLICA IDENTITY FULL;
CREATE TABLE lines (order_id int, n int, qty int, PRIMARY KEY (order_id, n));
INSERT INTO orders VALUES (100, 'old', NULL);`)
	b := start(t, pgCDCConfig(t, pg, []string{"orders", "public.full_orders", "lines"}, "", ""))
	js := b.srv.Bus().JetStream()
	// The snapshot's row comes first.
	waitStored(t, js, "events.db.public.>", 1, time.Minute)

	pg.Exec(t, "", `INSERT INTO orders VALUES (1, 'new', 'a')`)
	pg.Exec(t, "", `UPDATE orders SET status = 'paid' WHERE id = 1`)
	pg.Exec(t, "", `INSERT INTO full_orders VALUES (7, 'new')`)
	pg.Exec(t, "", `UPDATE full_orders SET status = 'paid' WHERE id = 7`)
	pg.Exec(t, "", `DELETE FROM orders WHERE id = 1`)
	pg.Exec(t, "", `BEGIN; INSERT INTO lines VALUES (5, 1, 10); INSERT INTO lines VALUES (5, 2, 20);
UPDATE lines SET qty = 11 WHERE order_id = 5 AND n = 1; DELETE FROM lines WHERE n = 2; INSERT INTO orders VALUES (2, 'new', NULL); COMMIT`)
	pg.Exec(t, "", `TRUNCATE full_orders`)
	const want = 1 + 5 + 5 + 1
	waitStored(t, js, "events.db.public.>", want, time.Minute)
	evs := cdcEvents(t, b, "events.db.public.>")
	require.Len(t, evs, want)

	type exp struct{ typ, op, subject, pkey string }
	exps := []exp{
		{"db.public.orders", "r", "100", "orders:100"},
		{"db.public.orders", "c", "1", "orders:1"},
		{"db.public.orders", "u", "1", "orders:1"},
		{"db.public.full_orders", "c", "7", "full_orders:7"},
		{"db.public.full_orders", "u", "7", "full_orders:7"},
		{"db.public.orders", "d", "1", "orders:1"},
		{"db.public.lines", "c", "[5,1]", "lines:[5,1]"},
		{"db.public.lines", "c", "[5,2]", "lines:[5,2]"},
		{"db.public.lines", "u", "[5,1]", "lines:[5,1]"},
		{"db.public.lines", "d", "[5,2]", "lines:[5,2]"},
		{"db.public.orders", "c", "2", "orders:2"},
		{"db.public.full_orders", "t", "", ""},
	}
	var lastLSN float64
	ids := map[string]bool{}
	for i, ev := range evs {
		e := exps[i]
		d := evData(t, ev)
		require.Equal(t, "1.0", ev["specversion"], i)
		require.Equal(t, "/cdc/shop", ev["source"], i)
		require.Equal(t, e.typ, ev["type"], i)
		require.Equal(t, e.op, d["op"], i)
		require.Equal(t, "application/json", ev["datacontenttype"], i)
		if e.subject != "" {
			require.Equal(t, e.subject, ev["subject"], i)
			require.Equal(t, e.pkey, ev["partitionkey"], i)
		} else {
			require.Nil(t, ev["subject"], i)
		}
		id, _ := ev["id"].(string)
		require.False(t, ids[id], "id %s twice", id)
		ids[id] = true
		src := rowOf(d["source"])
		require.Equal(t, "postgresql", src["connector"], i)
		require.Equal(t, "shop", src["name"], i)
		require.Equal(t, "postgres", src["db"], i)
		require.Equal(t, "public", src["schema"], i)
		require.Equal(t, strings.TrimPrefix(e.typ, "db.public."), src["table"], i)
		require.Contains(t, d, "ts_ms")
		if e.op == "r" {
			require.Contains(t, []any{"true", "last"}, src["snapshot"])
			require.True(t, strings.HasPrefix(id, "weir_shop:snapshot:"), id)
			continue
		}
		require.Equal(t, "false", src["snapshot"], i)
		require.True(t, strings.HasPrefix(id, "weir_shop:"), id)
		lsn, _ := src["lsn"].(float64)
		require.GreaterOrEqual(t, lsn, lastLSN, "commit order at %d", i)
		lastLSN = lsn
		require.NotZero(t, src["txId"], i)
		_, err := time.Parse(time.RFC3339Nano, ev["time"].(string))
		require.NoError(t, err)
	}
	// Debezium data per op.
	require.Equal(t, map[string]any{"id": 100.0, "status": "old", "note": nil}, rowOf(evData(t, evs[0])["after"]))
	require.Nil(t, evData(t, evs[1])["before"])
	require.Equal(t, map[string]any{"id": 1.0, "status": "new", "note": "a"}, rowOf(evData(t, evs[1])["after"]))
	// REPLICA IDENTITY DEFAULT, the key unchanged: no before.
	require.Nil(t, evData(t, evs[2])["before"])
	require.Equal(t, map[string]any{"id": 1.0, "status": "paid", "note": "a"}, rowOf(evData(t, evs[2])["after"]))
	// FULL: the whole old row.
	require.Equal(t, map[string]any{"id": 7.0, "status": "new"}, rowOf(evData(t, evs[4])["before"]))
	require.Equal(t, map[string]any{"id": 7.0, "status": "paid"}, rowOf(evData(t, evs[4])["after"]))
	// DEFAULT delete: the key only.
	require.Equal(t, map[string]any{"id": 1.0}, rowOf(evData(t, evs[5])["before"]))
	require.Nil(t, evData(t, evs[5])["after"])
	// The transaction: one txId and lsn, ids by index, in its order.
	tx := evs[6:11]
	src0 := rowOf(evData(t, tx[0])["source"])
	for i, ev := range tx {
		src := rowOf(evData(t, ev)["source"])
		require.Equal(t, src0["txId"], src["txId"])
		require.Equal(t, src0["lsn"], src["lsn"])
		require.True(t, strings.HasSuffix(ev["id"].(string), fmt.Sprintf(":%d", i)), ev["id"])
	}
	require.Equal(t, map[string]any{"order_id": 5.0, "n": 1.0, "qty": 11.0}, rowOf(evData(t, tx[2])["after"]))
	require.Equal(t, map[string]any{"order_id": 5.0, "n": 2.0}, rowOf(evData(t, tx[3])["before"]))
	// Truncate: no row.
	require.Nil(t, evData(t, evs[11])["before"])
	require.Nil(t, evData(t, evs[11])["after"])

	// The source's status through the API.
	r := do(t, sinkRequest(t, "GET", b.base+"/v1/cdc/shop", adminSecret, ""))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.Equal(t, "streaming", r.body["state"], string(r.raw))
}

// An added column registers a new version of the table's contract.
func TestPostgresCDCAddedColumnIsANewContractVersion(t *testing.T) {
	t.Parallel()
	pg := weirtest.StartPostgres(t)
	pg.Exec(t, "", `CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL)`)
	b := start(t, pgCDCConfig(t, pg, []string{"orders"}, "snapshot: never", ""))
	js := b.srv.Bus().JetStream()
	pg.Exec(t, "", `INSERT INTO orders VALUES (1, 'new')`)
	waitStored(t, js, "events.db.public.orders", 1, time.Minute)
	versions := func() []any {
		r := do(t, sinkRequest(t, "GET", b.base+"/v1/contracts/db.public.orders", adminSecret, ""))
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		v, _ := r.body["versions"].([]any)
		return v
	}
	v1 := versions()
	require.Len(t, v1, 1, "one version after the first change")

	pg.Exec(t, "", `ALTER TABLE orders ADD COLUMN total numeric; INSERT INTO orders VALUES (2, 'new', 12.5)`)
	waitStored(t, js, "events.db.public.orders", 2, time.Minute)
	v2 := versions()
	require.Len(t, v2, 2, "an added column is a new version")
	raw, _ := json.Marshal(v2)
	require.Contains(t, string(raw), "total")
	evs := cdcEvents(t, b, "events.db.public.orders")
	require.Equal(t, "12.5", rowOf(evData(t, evs[1])["after"])["total"])
}

package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// myCDCConfig is testConfig with a cdc source "shop" reading the tables of
// MariaDB m.
func myCDCConfig(t *testing.T, m *weirtest.MariaDB, snapshot string, tables ...string) *config.Config {
	t.Helper()
	cfg := testConfig(t)
	s := &config.CDC{MySQL: &config.MySQLCDC{DSN: m.DSN(""), ServerID: 2001, Snapshot: snapshot, Tables: map[string]*config.CDCTable{}}}
	for _, tb := range tables {
		s.MySQL.Tables[tb] = &config.CDCTable{}
	}
	cfg.CDC = map[string]*config.CDC{"shop": s}
	cfg.WithDefaults()
	require.NoError(t, Check(cfg))
	return cfg
}

// waitCDCState polls GET /v1/cdc/shop until the source is in state.
func waitCDCState(t *testing.T, base, state string) {
	t.Helper()
	weirtest.Eventually(t, time.Minute, func() error {
		r := do(t, sinkRequest(t, "GET", base+"/v1/cdc/shop", adminSecret, ""))
		if r.status != http.StatusOK || r.body["state"] != state {
			return fmt.Errorf("GET /v1/cdc/shop: %d %s", r.status, r.raw)
		}
		return nil
	})
}

// decodeNumbers decodes JSON keeping numbers as json.Number.
func decodeNumbers(t *testing.T, v any) map[string]any {
	t.Helper()
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	require.NoError(t, d.Decode(&m))
	return m
}

// Insert, update and delete of a MariaDB table, through weir's
// configuration, reader, publisher and bus: the envelopes are on the bus in
// commit order, with the CloudEvents attributes docs/cdc.md describes.
func TestMariaDBChangesReachTheBus(t *testing.T) {
	t.Parallel()
	m := weirtest.StartMariaDB(t)
	m.Exec(t, "CREATE DATABASE shop",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2) NOT NULL, note VARCHAR(50))",
		"CREATE TABLE shop.lines (o INT, n INT, qty INT, PRIMARY KEY (o, n))",
		"CREATE TABLE shop.other (id INT PRIMARY KEY)")
	b := start(t, myCDCConfig(t, m, "never", "shop.orders", "shop.lines"))
	waitCDCState(t, b.base, "streaming")

	m.Exec(t,
		"INSERT INTO shop.orders VALUES (7, 12.50, 'gift')",
		"INSERT INTO shop.other VALUES (1)",
		"UPDATE shop.orders SET total = 15.00, note = NULL WHERE id = 7",
		"DELETE FROM shop.orders WHERE id = 7",
		"BEGIN; INSERT INTO shop.orders VALUES (8, 1, 'a'); INSERT INTO shop.lines VALUES (8, 1, 3), (8, 2, 4); UPDATE shop.orders SET note = 'b' WHERE id = 8; COMMIT",
		"TRUNCATE TABLE shop.lines")
	var evs []map[string]any
	weirtest.Eventually(t, time.Minute, func() error {
		evs = storedEvents(t, b.srv.Bus().JetStream(), "events.db.shop.>")
		if len(evs) < 8 {
			return fmt.Errorf("%d events on the bus, want 8", len(evs))
		}
		return nil
	})
	require.Len(t, evs, 8)

	type want struct {
		typ, subject, op string
		before, after    map[string]any
	}
	n := func(s string) json.Number { return json.Number(s) }
	wants := []want{
		{"db.shop.orders", "7", "c", nil, map[string]any{"id": n("7"), "total": "12.50", "note": "gift"}},
		{"db.shop.orders", "7", "u", map[string]any{"id": n("7"), "total": "12.50", "note": "gift"}, map[string]any{"id": n("7"), "total": "15.00", "note": nil}},
		{"db.shop.orders", "7", "d", map[string]any{"id": n("7"), "total": "15.00", "note": nil}, nil},
		{"db.shop.orders", "8", "c", nil, map[string]any{"id": n("8"), "total": "1.00", "note": "a"}},
		{"db.shop.lines", "[8,1]", "c", nil, map[string]any{"o": n("8"), "n": n("1"), "qty": n("3")}},
		{"db.shop.lines", "[8,2]", "c", nil, map[string]any{"o": n("8"), "n": n("2"), "qty": n("4")}},
		{"db.shop.orders", "8", "u", map[string]any{"id": n("8"), "total": "1.00", "note": "a"}, map[string]any{"id": n("8"), "total": "1.00", "note": "b"}},
		{"db.shop.lines", "", "t", nil, nil},
	}
	ids := map[string]bool{}
	var txGTID string
	for i, w := range wants {
		ev := evs[i]
		require.Equal(t, w.typ, ev["type"], "event %d", i)
		require.Equal(t, "/cdc/shop", ev["source"])
		require.Equal(t, "application/json", ev["datacontenttype"])
		require.NotEmpty(t, ev["time"])
		require.NotEmpty(t, ev["traceparent"])
		data := decodeNumbers(t, ev["data"])
		require.Equal(t, w.op, data["op"], "event %d", i)
		require.Equal(t, w.before, decodeNumbers(t, data["before"]), "event %d before", i)
		require.Equal(t, w.after, decodeNumbers(t, data["after"]), "event %d after", i)
		src := data["source"].(map[string]any)
		require.Equal(t, "mysql", src["connector"])
		require.Equal(t, "shop", src["name"])
		require.Equal(t, "shop", src["db"])
		require.Equal(t, "false", src["snapshot"])
		require.NotEmpty(t, src["gtid"])
		require.NotEmpty(t, src["file"])
		require.NotEmpty(t, src["pos"])
		require.Equal(t, fmt.Sprintf("shop:%s:", src["gtid"]), ev["id"].(string)[:len(fmt.Sprintf("shop:%s:", src["gtid"]))])
		if w.subject == "" {
			require.NotContains(t, ev, "subject")
			require.NotContains(t, ev, "partitionkey")
		} else {
			require.Equal(t, w.subject, ev["subject"], "event %d", i)
			require.Equal(t, src["table"].(string)+":"+w.subject, ev["partitionkey"])
		}
		require.False(t, ids[ev["id"].(string)], "id %s twice", ev["id"])
		ids[ev["id"].(string)] = true
		// the transaction's four changes share its GTID and count up
		if i >= 3 && i <= 6 {
			if i == 3 {
				txGTID = src["gtid"].(string)
			}
			require.Equal(t, txGTID, src["gtid"])
			require.Equal(t, fmt.Sprintf("shop:%s:%d", txGTID, i-3), ev["id"])
		}
	}
	r := do(t, sinkRequest(t, "GET", b.base+"/v1/cdc/shop", adminSecret, ""))
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "mysql", r.body["kind"])
	require.Equal(t, "mysql", r.body["connector"])
}

package server

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// snapshotRows is the size of the snapshot tests' tables: 200,000, or
// WEIR_CDC_SNAPSHOT_ROWS for a quicker run while working on them:
// WEIR_CDC_SNAPSHOT_ROWS=20000 go test -race -run 'Snapshot' ./internal/server/
func snapshotRows(t *testing.T) int {
	n := 200_000
	if s := os.Getenv("WEIR_CDC_SNAPSHOT_ROWS"); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(t, err, "WEIR_CDC_SNAPSHOT_ROWS")
		n = v
	}
	return n
}

// The initial snapshot of a large MariaDB table taken while inserts,
// updates and deletes continue: once caught up, the latest state per key on
// the bus is the table.
func TestMariaDBSnapshotWhileWriting(t *testing.T) {
	t.Parallel()
	rows := snapshotRows(t)
	m := weirtest.StartMariaDB(t)
	m.Exec(t, "CREATE DATABASE shop",
		"CREATE TABLE shop.items (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(20))",
		fmt.Sprintf("INSERT INTO shop.items SELECT seq, 0, CONCAT('row ', seq) FROM shop.seq_0_to_%d", rows-1))
	p, base, js := weirWithMariaDB(t, m, "initial", "shop.items")
	_ = p

	// The writer changes random rows (and adds and removes some) until the
	// snapshot is done, and a little longer.
	db := m.DB(t, "shop")
	stop := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		rnd := rand.New(rand.NewPCG(1, 2))
		for i := 0; ; i++ {
			select {
			case <-stop:
				wrote <- nil
				return
			default:
			}
			id := rnd.IntN(rows + 1000)
			var err error
			switch i % 4 {
			case 0, 1:
				_, err = db.Exec("INSERT INTO items VALUES (?, ?, 'new') ON DUPLICATE KEY UPDATE v = v + 1", id, i)
			case 2:
				_, err = db.Exec("UPDATE items SET note = ? WHERE id = ?", fmt.Sprintf("w%d", i), id)
			case 3:
				_, err = db.Exec("DELETE FROM items WHERE id = ?", id)
			}
			if err != nil {
				wrote <- err
				return
			}
		}
	}()
	weirtest.Eventually(t, 3*time.Minute, func() error {
		r := do(t, sinkRequest(t, "GET", base+"/v1/cdc/shop", adminSecret, ""))
		if r.status != http.StatusOK || r.body["state"] != "streaming" {
			return fmt.Errorf("GET /v1/cdc/shop: %s", r.raw)
		}
		return nil
	})
	// a few hundred changes after the snapshot
	weirtest.EventuallyTrue(t, time.Minute, func() bool {
		return onBus(js, "events.db.shop.items") > uint64(rows)+300
	}, "no changes after the snapshot")
	close(stop)
	require.NoError(t, <-wrote)
	var last string
	require.NoError(t, db.QueryRow("SELECT @@gtid_binlog_pos").Scan(&last))

	// caught up: nothing pending and no lag
	weirtest.Eventually(t, 2*time.Minute, func() error {
		r := do(t, sinkRequest(t, "GET", base+"/v1/cdc/shop", adminSecret, ""))
		pos, _ := r.body["position"].(string)
		if r.body["pending"] != float64(0) || len(pos) < len(last) || pos[:len(last)] != last {
			return fmt.Errorf("not caught up with %s: %s", last, r.raw)
		}
		return nil
	})

	type row struct {
		ID   int     `json:"id"`
		V    int     `json:"v"`
		Note *string `json:"note"`
	}
	state := map[int]row{}
	ops := map[string]int{}
	n := int(onBus(js, "events.db.shop.items"))
	readBus(t, js, "events.db.shop.items", n, func(id string, data []byte) {
		var v struct {
			Op     string `json:"op"`
			Before *row   `json:"before"`
			After  *row   `json:"after"`
		}
		require.NoError(t, json.Unmarshal(data, &v))
		ops[v.Op]++
		switch v.Op {
		case "r", "c", "u":
			state[v.After.ID] = *v.After
		case "d":
			delete(state, v.Before.ID)
		default:
			t.Fatalf("op %q", v.Op)
		}
	})
	// the rows at the snapshot's moment: about the table's size, as the
	// writer adds about as many as it deletes
	require.InDelta(t, rows, ops["r"], float64(rows)/10, "%v", ops)
	require.Positive(t, ops["c"]+ops["u"]+ops["d"], "%v", ops)

	table := map[int]row{}
	rs, err := db.Query("SELECT id, v, note FROM items")
	require.NoError(t, err)
	defer rs.Close()
	for rs.Next() {
		var r row
		require.NoError(t, rs.Scan(&r.ID, &r.V, &r.Note))
		table[r.ID] = r
	}
	require.NoError(t, rs.Err())
	require.Equal(t, len(table), len(state))
	for id, r := range table {
		require.Equal(t, r, state[id], "row %d", id)
	}
	t.Logf("%d rows, %d events: %v", rows, n, ops)
}

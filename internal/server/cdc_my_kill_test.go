package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/weirtest"
)

// weirWithMariaDB runs the weir binary with a cdc source "shop" on m's
// tables and its bus listening for the test; it answers the process, its
// HTTP address and a JetStream client of its bus.
func weirWithMariaDB(t *testing.T, m *weirtest.MariaDB, snapshot string, tables ...string) (*weirtest.Weir, string, jetstream.JetStream) {
	t.Helper()
	var tb strings.Builder
	for _, name := range tables {
		fmt.Fprintf(&tb, "        %s: {}\n", name)
	}
	p, js, base := serveCDC(t, fmt.Sprintf(`cdc:
  shop:
    mysql:
      dsn: %q
      server_id: 3001
      snapshot: %s
      tables:
%s`, m.DSN(""), snapshot, tb.String()))
	return p, base, js
}

// onBus counts the events on the bus with subject filter; 0 while the bus
// cannot answer.
func onBus(js jetstream.JetStream, filter string) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// readBus calls f with each event's id and data on subject filter, in
// stream order, until want events are read.
func readBus(t *testing.T, js jetstream.JetStream, filter string, want int, f func(id string, data []byte)) {
	t.Helper()
	eachStored(t, js, filter, uint64(want), func(data []byte) {
		var ev struct {
			ID   string          `json:"id"`
			Data json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal(data, &ev))
		f(ev.ID, ev.Data)
	})
}

// A kill -9 of weir in the middle of 100,000 changes of a MariaDB table,
// then a restart: every change is on the bus exactly once by id, and none
// is missing.
func TestMariaDBCaptureSurvivesKill9(t *testing.T) {
	t.Parallel()
	const total, perTx = 100_000, 100
	m := weirtest.StartMariaDB(t)
	m.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, n INT NOT NULL)")
	p, base, js := weirWithMariaDB(t, m, "never", "shop.orders")
	waitCDCState(t, base, "streaming")

	// The writer: 1,000 transactions of 100 inserts, while weir is killed.
	db := m.DB(t, "shop")
	wrote := make(chan error, 1)
	go func() {
		for tx := range total / perTx {
			var b strings.Builder
			b.WriteString("INSERT INTO orders VALUES ")
			for i := range perTx {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "(%d,%d)", tx*perTx+i, tx)
			}
			if _, err := db.Exec(b.String()); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	const filter = "events.db.shop.orders"
	weirtest.EventuallyTrue(t, 2*time.Minute, func() bool { return onBus(js, filter) >= 20_000 }, "fewer than 20,000 changes on the bus")
	killedAt := onBus(js, filter)
	p.Kill()
	require.Less(t, killedAt, uint64(total), "the kill came after the last change")
	p.Start()
	require.NoError(t, <-wrote)

	weirtest.Eventually(t, 3*time.Minute, func() error {
		if n := onBus(js, filter); n < total {
			return fmt.Errorf("%d changes on the bus of %d", n, total)
		}
		return nil
	})
	// Whatever the restart read again is not stored twice: once the source
	// is caught up the count is exactly the number of changes.
	weirtest.Eventually(t, time.Minute, func() error {
		r := do(t, sinkRequest(t, "GET", base+"/v1/cdc/shop", adminSecret, ""))
		if r.body["pending"] != float64(0) || r.body["lag_seconds"] != float64(0) {
			return fmt.Errorf("not caught up: %s", r.raw)
		}
		return nil
	})
	require.Equal(t, uint64(total), onBus(js, filter))
	ids := make(map[string]bool, total)
	rows := make([]bool, total)
	last := -1
	readBus(t, js, filter, total, func(id string, data []byte) {
		require.False(t, ids[id], "id %s twice", id)
		ids[id] = true
		var v struct {
			Op    string `json:"op"`
			After struct {
				ID int `json:"id"`
			} `json:"after"`
		}
		require.NoError(t, json.Unmarshal(data, &v))
		require.Equal(t, "c", v.Op)
		require.Greater(t, v.After.ID, last, "commit order")
		last = v.After.ID
		rows[v.After.ID] = true
	})
	require.Len(t, ids, total)
	for i, ok := range rows {
		require.True(t, ok, "row %d missing", i)
	}
	t.Logf("killed with %d of %d changes on the bus", killedAt, total)
}

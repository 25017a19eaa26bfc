package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/weirtest"
)

// envInt is the environment variable name as a positive integer, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// busPassword is the password of the tests' listening embedded bus.
const busPassword = "test-bus-password-0123456789"

// serveCDC runs the weir binary with the cdc section given, its bus
// listening for the test, and returns the process, the bus's JetStream and
// the base URL of its API.
func serveCDC(t *testing.T, cdcYAML string) (*weirtest.Weir, jetstream.JetStream, string) {
	t.Helper()
	bin := weirtest.BuildWeir(t)
	dir := t.TempDir()
	addr, busAddr := weirtest.FreeAddr(t), weirtest.FreeAddr(t)
	conf := fmt.Sprintf(`data_dir: %q
server: {addr: %q}
log: {level: warn}
tokens: [{name: admin, secret: %q, roles: [admin]}]
bus: {listen: %q, user: weirtest, password: %q}
`, filepath.Join(dir, "data"), addr, adminSecret, busAddr, busPassword) + cdcYAML
	path := filepath.Join(dir, "weir.yaml")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	logf, err := os.Create(filepath.Join(dir, "weir.log"))
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("weir's log:\n%s", b)
		}
		logf.Close()
	})
	p := weirtest.Serve(t, bin, path, addr, logf)
	nc, err := nats.Connect("nats://"+busAddr, nats.UserInfo("weirtest", busPassword), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return p, js, "http://" + addr
}

// eachStored hands fn every one of the total events stored under filter,
// in stream order.
func eachStored(t *testing.T, js jetstream.JetStream, filter string, total uint64, fn func(data []byte)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, bus.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	require.NoError(t, err)
	var read uint64
	for read < total {
		batch, err := c.Fetch(int(min(total-read, 5000)), jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			n++
			fn(m.Data())
		}
		require.NoError(t, batch.Error())
		require.Positive(t, n, "no message after %d of %d", read, total)
		read += uint64(n)
	}
}

// storedIDs reads every event stored under filter and counts each id.
func storedIDs(t *testing.T, js jetstream.JetStream, filter string, total uint64) map[string]int {
	t.Helper()
	ids := map[string]int{}
	eachStored(t, js, filter, total, func(data []byte) {
		var ev struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal(data, &ev))
		ids[ev.ID]++
	})
	return ids
}

// kill -9 of the weir binary twice in the middle of 100,000 changes
// (WEIR_CDC_KILL_CHANGES for a quicker run) committed in transactions of
// 2,000 while weir streams them: after the restarts every change is on the
// bus exactly once by id, none missing.
func TestPostgresCDCSurvivesKill9(t *testing.T) {
	t.Parallel()
	const perTx = 2000
	txs := max(envInt("WEIR_CDC_KILL_CHANGES", 100_000)/perTx, 2)
	total := txs * perTx
	pg := weirtest.StartPostgres(t)
	pg.Exec(t, "", `CREATE TABLE kills (id int8 PRIMARY KEY, tx int, v int)`)
	p, js, _ := serveCDC(t, pgCDCYAML(pg, []string{"kills"}, "snapshot: never"))
	const filter = "events.db.public.kills"
	stored := func() uint64 {
		n, _ := countStored(js, filter)
		return n
	}

	// The writer: each transaction inserts 1,500 rows and updates 500 of
	// them. It keeps at most 5 transactions ahead of what the bus holds
	// while weir runs, and writes on while weir is down, so that the kills
	// fall while it writes.
	werr := make(chan error, 1)
	go func() {
		for tx := range txs {
			lo := int64(tx) * 1500
			_, err := pg.TryExec("", fmt.Sprintf(`BEGIN;
INSERT INTO kills SELECT g, %d, 0 FROM generate_series(%d, %d) g;
UPDATE kills SET v = 1 WHERE id BETWEEN %d AND %d;
COMMIT`, tx, lo, lo+1499, lo, lo+499))
			if err != nil {
				werr <- err
				return
			}
			for {
				n, err := countStored(js, filter)
				if err != nil || n+5*perTx >= uint64(tx+1)*perTx {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		werr <- nil
	}()

	for _, frac := range []uint64{3, 6} {
		floor := uint64(total) * frac / 10
		weirtest.EventuallyTrue(t, 2*time.Minute, func() bool { return stored() >= floor }, "weir does not store the changes")
		at := stored()
		p.Kill()
		t.Logf("killed with %d of %d changes stored, %s of %d rows written", at, total, pg.Exec(t, "", "SELECT count(*) FROM kills")[0][0], txs*1500)
		p.Start()
	}
	require.NoError(t, <-werr)
	weirtest.EventuallyTrue(t, 2*time.Minute, func() bool { return stored() >= uint64(total) }, "changes are missing after the restarts")
	p.Kill() // nothing more may arrive; the bus's files stay

	// Read again from the files by a fresh weir, so that what is counted
	// is what survived.
	p.Start()
	n := stored()
	require.Equal(t, uint64(total), n, "stored messages")
	ids := storedIDs(t, js, filter, n)
	require.Len(t, ids, total, "distinct ids")
	for id, c := range ids {
		require.Equal(t, 1, c, "id %s stored %d times", id, c)
	}
}

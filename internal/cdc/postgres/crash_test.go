package postgres

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// A reader stopped mid-stream with changes emitted but not confirmed, then
// a new reader: every change after the confirmed position comes again with
// the id it had, and none is missing.
func TestNewReaderReemitsUnconfirmedWithTheSameIDs(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE ev (id int PRIMARY KEY)`)
	rec1 := &recorder{}
	r1 := e.start(t, e.spec("", "ev"), rec1)
	e.pg.Exec(t, "", `INSERT INTO ev SELECT g FROM generate_series(1, 100) g`)
	rec1.waitFor(t, 100)
	rec1.mu.Lock()
	rec1.hold = true
	rec1.mu.Unlock()
	for i := 0; i < 20; i++ {
		e.pg.Exec(t, "", fmt.Sprintf(`INSERT INTO ev VALUES (%d)`, 1000+i))
	}
	first := rec1.waitFor(t, 120)
	confirmed := r1.confirmed.Load()
	// The slot never moves past what was confirmed.
	weirtest.Eventually(t, 10*time.Second, func() error {
		got := e.pg.Exec(t, "", `SELECT confirmed_flush_lsn FROM pg_replication_slots`)[0][0]
		if got != r1.Status(context.Background()).Position {
			return fmt.Errorf("slot at %s", got)
		}
		return nil
	})
	require.NoError(t, r1.Stop(context.Background()))
	require.Equal(t, confirmed, r1.confirmed.Load())

	rec2 := &recorder{}
	e.start(t, e.spec("", "ev"), rec2)
	again := rec2.waitFor(t, 20)
	require.Len(t, again, 20)
	for i, c := range again {
		require.Equal(t, first[100+i].ID, c.ID)
		require.Equal(t, string(first[100+i].Value.After), string(c.Value.After))
	}
	e.pg.Exec(t, "", `INSERT INTO ev VALUES (5000)`)
	cs := rec2.waitFor(t, 21)
	require.Contains(t, string(cs[20].Value.After), strconv.Itoa(5000))
}

// A server crash: the reader reconnects and goes on without loss.
func TestReaderReconnectsAfterServerCrash(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE ev (id int PRIMARY KEY)`)
	rec := &recorder{}
	e.start(t, e.spec("", "ev"), rec)
	e.pg.Exec(t, "", `INSERT INTO ev VALUES (1)`)
	rec.waitFor(t, 1)
	e.pg.Kill()
	e.pg.Start()
	e.pg.Exec(t, "", `INSERT INTO ev VALUES (2)`)
	cs := rec.waitFor(t, 2)
	ids := map[string]bool{}
	for _, c := range cs {
		ids[string(c.Value.After)] = true
	}
	require.True(t, ids[`{"id":2}`])
}

func TestHeartbeatKeepsTheSlotMoving(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE ev (id int PRIMARY KEY)`)
	e.pg.Exec(t, "", `CREATE DATABASE other`)
	e.pg.Exec(t, "other", `CREATE TABLE noise (x int)`)
	rec := &recorder{}
	e.start(t, e.spec("", "ev"), rec)
	e.pg.Exec(t, "", `INSERT INTO ev VALUES (1)`)
	rec.waitFor(t, 1)
	for i := 0; i < 5; i++ {
		e.pg.Exec(t, "other", `INSERT INTO noise SELECT g FROM generate_series(1, 10000) g`)
	}
	current := e.pg.Exec(t, "", `SELECT pg_current_wal_lsn()`)[0][0]
	weirtest.Eventually(t, 20*time.Second, func() error {
		row := e.pg.Exec(t, "", `SELECT confirmed_flush_lsn >= '`+current+`', confirmed_flush_lsn FROM pg_replication_slots`)
		if row[0][0] != "t" {
			return fmt.Errorf("slot at %s, WAL at %s", row[0][1], current)
		}
		return nil
	})
}

func TestStatusAndStopBeforeStart(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE ev (id int PRIMARY KEY)`)
	rec := &recorder{}
	r, err := New("shop", e.spec("", "ev"), rec, e.kv, nil)
	require.NoError(t, err)
	require.NoError(t, r.Stop(context.Background())) // before start
	rec.reader = func() *Reader { return r }
	require.NoError(t, r.Start(context.Background()))
	e.pg.Exec(t, "", `INSERT INTO ev VALUES (1)`)
	rec.waitFor(t, 1)
	st := r.Status(context.Background())
	require.Equal(t, "postgresql", st.Connector)
	require.Equal(t, "streaming", st.State)
	require.GreaterOrEqual(t, st.RetainedBytes, int64(0))
	require.Zero(t, st.LagSeconds)
	require.NoError(t, r.Stop(context.Background()))
	require.NoError(t, r.Stop(context.Background())) // twice
	removed, err := r.Drop(context.Background())
	require.NoError(t, err)
	require.Contains(t, removed, "replication slot "+r.slot)
	require.Empty(t, e.pg.Exec(t, "", `SELECT 1 FROM pg_replication_slots`))
	require.Empty(t, e.pg.Exec(t, "", `SELECT 1 FROM pg_publication`))
}

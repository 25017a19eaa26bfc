package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/weirtest"
)

// blocking is a recorder whose first Emit blocks until gate is closed, as
// the Publisher's Emit does while too many changes wait for the bus.
type blocking struct {
	*recorder
	entered, gate chan struct{}
}

func (b *blocking) Emit(ctx context.Context, c *cdc.Change) error {
	select {
	case <-b.entered:
	default:
		close(b.entered)
		select {
		case <-b.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return b.recorder.Emit(ctx, c)
}

// While Emit blocks for many times the server's wal_sender_timeout, the
// reader keeps answering the server: the walsender stays the same process
// and its reply time moves on, and the slot never moves past what was
// confirmed.
func TestStatusUpdatesContinueWhileEmitBlocks(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `ALTER SYSTEM SET wal_sender_timeout = '3s'`)
	e.pg.Exec(t, "", `SELECT pg_reload_conf()`)
	e.pg.Exec(t, "", `CREATE TABLE acc (id int PRIMARY KEY)`)
	rec := &blocking{recorder: &recorder{}, entered: make(chan struct{}), gate: make(chan struct{})}
	r, err := New("shop", e.spec("", "acc"), rec, e.kv, weirtest.Logger(t))
	require.NoError(t, err)
	rec.reader = func() *Reader { return r }
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { close(rec.gate); _ = r.Stop(context.Background()) })
	var pid string
	weirtest.Eventually(t, 10*time.Second, func() error {
		rows := e.pg.Exec(t, "", `SELECT coalesce(active_pid::text, ''), coalesce(confirmed_flush_lsn::text, '') FROM pg_replication_slots WHERE slot_name = 'weir_shop'`)
		if len(rows) != 1 || rows[0][0] == "" {
			return fmt.Errorf("slot not active: %v", rows)
		}
		pid = rows[0][0]
		return nil
	})
	confirmedBefore := e.pg.Exec(t, "", `SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'weir_shop'`)[0][0]

	e.pg.Exec(t, "", `INSERT INTO acc VALUES (1)`)
	<-rec.entered
	since := e.pg.Exec(t, "", `SELECT now()`)[0][0]
	weirtest.Eventually(t, 30*time.Second, func() error {
		rows := e.pg.Exec(t, "", `SELECT coalesce(s.active_pid::text, ''), coalesce(r.reply_time > '`+since+`'::timestamptz + interval '10 s', false)
			FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = 'weir_shop'`)
		if rows[0][0] != pid {
			return fmt.Errorf("the walsender changed: %s, was %s", rows[0][0], pid)
		}
		if rows[0][1] != "t" {
			return fmt.Errorf("no reply yet 10 s after Emit blocked: %v", e.pg.Exec(t, "", `SELECT reply_time, now() FROM pg_stat_replication`))
		}
		return nil
	})
	require.Empty(t, r.Status(context.Background()).LastError)
	lsn := e.pg.Exec(t, "", `SELECT confirmed_flush_lsn <= '`+confirmedBefore+`'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'weir_shop'`)
	require.Equal(t, "t", lsn[0][0], "the slot stayed at what was confirmed before the blocked change")
}

// A running reader warns on its own timer when the slot keeps more WAL
// than max_retained_wal, without anyone reading its status; the status
// says so too.
func TestRetainedWALWarningOnATimer(t *testing.T) {
	old := RetainedCheckEvery
	RetainedCheckEvery = 50 * time.Millisecond
	t.Cleanup(func() { RetainedCheckEvery = old })
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE acc (id int PRIMARY KEY)`)
	spec := e.spec("", "acc")
	spec.Postgres.MaxRetainedWAL = 1
	logs := &weirtest.LockedBuffer{}
	r, err := New("shop", spec, &recorder{}, e.kv, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, err)
	rec := &recorder{reader: func() *Reader { return r }}
	r.emitter = rec
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	weirtest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), "keeps more WAL than max_retained_wal") {
			return fmt.Errorf("no warning yet: %s", logs.String())
		}
		return nil
	})
	require.Equal(t, 1, strings.Count(logs.String(), "keeps more WAL than max_retained_wal"), "warned once, not at every check")
	st := r.Status(context.Background())
	require.True(t, st.RetainedOverMax)
	require.Equal(t, int64(1), st.MaxRetainedBytes)
	require.Greater(t, st.RetainedBytes, int64(1))
}

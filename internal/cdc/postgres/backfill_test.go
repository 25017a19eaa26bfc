package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/weirtest"
)

// backfillDone waits until the backfill id is done (or stopped) and
// returns its progress.
func backfillDone(t *testing.T, r *Reader, id string) cdc.TableProgress {
	t.Helper()
	var p cdc.TableProgress
	weirtest.Eventually(t, 60*time.Second, func() error {
		for _, q := range r.Status(context.Background()).Snapshot {
			if q.ID == id && (q.Done || q.Error != "") {
				p = q
				return nil
			}
		}
		return fmt.Errorf("backfill %s not done", id)
	})
	return p
}

// A backfill while writes stream: its rows are op r, incremental, with
// backfill ids, never inside a streamed transaction, and the last event per
// key is still the table's.
func TestBackfillWhileStreaming(t *testing.T) {
	old := ChunkSize
	ChunkSize = 100
	t.Cleanup(func() { ChunkSize = old })
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE acc (id int PRIMARY KEY, v int NOT NULL); INSERT INTO acc SELECT g, 0 FROM generate_series(1, 2000) g`)
	rec := &recorder{}
	r := e.start(t, e.spec("", "acc"), rec)
	weirtest.Eventually(t, 10*time.Second, func() error {
		if st := r.Status(context.Background()); st.State != "streaming" {
			return fmt.Errorf("state %s", st.State)
		}
		return nil
	})

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ctx.Err() == nil; i++ {
			// Two changes per transaction, so that a row put between them shows.
			_, _ = e.pg.TryExec("", fmt.Sprintf(`BEGIN; UPDATE acc SET v = v + 1 WHERE id = %d; UPDATE acc SET v = v + 1 WHERE id = %d; COMMIT`, i*7%2000+1, i*13%2000+1))
		}
	}()
	id, err := r.Backfill(context.Background(), "public.acc", "id % 2 = 0")
	require.NoError(t, err)
	p := backfillDone(t, r, id)
	cancel()
	wg.Wait()
	require.Empty(t, p.Error)
	require.Equal(t, cdc.TableProgress{Table: "public.acc", Kind: "backfill", ID: id, Where: "id % 2 = 0", Rows: 1000, Estimate: p.Estimate, Done: true}, p)

	e.pg.Exec(t, "", `INSERT INTO acc VALUES (-1, -1)`) // a marker: everything before it is streamed
	weirtest.Eventually(t, 30*time.Second, func() error {
		for _, c := range rec.all() {
			if string(c.Value.After) == `{"id":-1,"v":-1}` {
				return nil
			}
		}
		return fmt.Errorf("marker not seen")
	})
	state := map[string]string{}
	backfilled := 0
	inTx := false
	for _, c := range rec.all() {
		k, _ := json.Marshal(c.Key)
		state[string(k)] = string(c.Value.After)
		if c.Value.Op != cdc.OpRead {
			inTx = !c.EndOfTx
			continue
		}
		require.False(t, inTx, "backfill row %s inside a streamed transaction", c.ID)
		backfilled++
		require.Equal(t, "incremental", c.Value.Source.Snapshot)
		require.Equal(t, "weir_shop:backfill:"+id+":public.acc:"+strings.Trim(string(k), "[]"), c.ID)
		n, err := c.Key[0].(json.Number).Int64()
		require.NoError(t, err)
		require.Zero(t, n%2, "only rows matching where")
	}
	require.Equal(t, 1000, backfilled)
	table := map[string]string{}
	for _, row := range e.pg.Exec(t, "", `SELECT id, v FROM acc`) {
		table["["+row[0]+"]"] = fmt.Sprintf(`{"id":%s,"v":%s}`, row[0], row[1])
	}
	var wrong []string
	for k, v := range state {
		if table[k] != v {
			wrong = append(wrong, k+": "+v+" on the bus, "+table[k]+" in the table")
		}
	}
	require.Empty(t, wrong, "the last event per key is the table's")
	require.GreaterOrEqual(t, len(state), 1000)
}

// A table the source does not capture and a condition PostgreSQL refuses
// are the caller's fault, named by field; a condition that writes or runs
// too long stops the backfill with the reason in its progress.
func TestBackfillRefusesAndBounds(t *testing.T) {
	old := BackfillStatementTimeout
	BackfillStatementTimeout = 300 * time.Millisecond
	t.Cleanup(func() { BackfillStatementTimeout = old })
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE acc (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY); CREATE SEQUENCE s; INSERT INTO acc SELECT g FROM generate_series(1, 10) g`)
	rec := &recorder{}
	r := e.start(t, e.spec("", "acc"), rec)
	ctx := context.Background()

	var be *cdc.BackfillError
	_, err := r.Backfill(ctx, "public.other", "")
	require.ErrorAs(t, err, &be)
	require.Equal(t, "table", be.Field)
	require.Contains(t, be.Reason, "public.other is not captured")

	_, err = r.Backfill(ctx, "public.acc", "nope > 1")
	require.ErrorAs(t, err, &be)
	require.Equal(t, "where", be.Field)
	require.Contains(t, be.Reason, `column "nope" does not exist`)

	_, err = r.Backfill(ctx, "public.acc", "id > 1) OR (true")
	require.NoError(t, err, "parentheses balanced across the condition are still one condition") // it reads, no more
	weirtest.Eventually(t, 10*time.Second, func() error {
		if r.Status(ctx).Snapshot[0].Done {
			return nil
		}
		return fmt.Errorf("not done")
	})

	id, err := r.Backfill(ctx, "public.acc", "nextval('s') > 0")
	require.NoError(t, err)
	p := backfillDone(t, r, id)
	require.Contains(t, p.Error, "read-only transaction")
	require.Equal(t, [][]string{{"f"}}, e.pg.Exec(t, "", `SELECT is_called FROM s`), "the sequence never moved")

	id, err = r.Backfill(ctx, "public.acc", "pg_sleep(5) IS NOT NULL")
	require.NoError(t, err)
	p = backfillDone(t, r, id)
	require.Contains(t, p.Error, "statement timeout")
}

// One backfill at a time; Stop ends a backfill that waits for the bus.
func TestBackfillOneAtATimeAndStop(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE acc (id int PRIMARY KEY); INSERT INTO acc SELECT g FROM generate_series(1, 10) g`)
	rec := &recorder{hold: true}
	r := e.start(t, e.spec("", "acc"), rec)
	ctx := context.Background()
	id, err := r.Backfill(ctx, "acc", "")
	require.NoError(t, err)
	rec.waitFor(t, 10) // read and emitted; never confirmed
	_, err = r.Backfill(ctx, "acc", "")
	require.ErrorIs(t, err, cdc.ErrBackfillRunning)
	require.NoError(t, r.Stop(ctx))
	p := r.Status(ctx).Snapshot[0]
	require.Equal(t, id, p.ID)
	require.False(t, p.Done)
	require.Contains(t, p.Error, "before the backfill was done")
	_, err = r.Backfill(ctx, "acc", "")
	require.ErrorIs(t, err, cdc.ErrPaused)
}

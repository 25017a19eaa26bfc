package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/weirtest"
)

// The snapshot of a table taken while writes go on ends with the latest
// state per key equal to the table.
func TestSnapshotWhileWritesContinue(t *testing.T) {
	old := ChunkSize
	ChunkSize = 500
	t.Cleanup(func() { ChunkSize = old })
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE acc (id int PRIMARY KEY, v int NOT NULL); INSERT INTO acc SELECT g, 0 FROM generate_series(1, 5000) g`)
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ctx.Err() == nil; i++ {
			_, _ = e.pg.TryExec("", fmt.Sprintf(`UPDATE acc SET v = v + 1 WHERE id = %d; INSERT INTO acc VALUES (%d, 1); DELETE FROM acc WHERE id = %d`, i*7%5000+1, 10000+i, i*13%5000+1))
		}
	}()
	r := e.start(t, e.spec("initial", "acc"), rec)
	weirtest.Eventually(t, 60*time.Second, func() error {
		st := r.Status(context.Background())
		if len(st.Snapshot) == 0 || !st.Snapshot[0].Done {
			return fmt.Errorf("snapshot %+v", st.Snapshot)
		}
		return nil
	})
	cancel()
	wg.Wait()
	e.pg.Exec(t, "", `INSERT INTO acc VALUES (-1, -1)`) // a marker: everything before it is streamed
	weirtest.Eventually(t, 60*time.Second, func() error {
		for _, c := range rec.all() {
			if string(c.Value.After) == `{"id":-1,"v":-1}` {
				return nil
			}
		}
		return fmt.Errorf("marker not seen")
	})
	state := map[string]string{}
	var last string
	for _, c := range rec.all() {
		k, _ := json.Marshal(c.Key)
		if c.Value.Op == cdc.OpDelete {
			delete(state, string(k))
		} else {
			state[string(k)] = string(c.Value.After)
		}
		if c.Value.Op == cdc.OpRead {
			last = c.Value.Source.Snapshot
		}
	}
	require.Equal(t, "last", last)
	want := map[string]string{}
	for _, row := range e.pg.Exec(t, "", `SELECT id, v FROM acc`) {
		want["["+row[0]+"]"] = fmt.Sprintf(`{"id":%s,"v":%s}`, row[0], row[1])
	}
	require.Equal(t, want, state)
}

// A snapshot cut short goes on from its saved progress.
func TestSnapshotResumesFromSavedProgress(t *testing.T) {
	old := ChunkSize
	ChunkSize = 100
	t.Cleanup(func() { ChunkSize = old })
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE acc (id int PRIMARY KEY); INSERT INTO acc SELECT g FROM generate_series(1, 1000) g`)
	rec1 := &recorder{hold: true}
	r1 := e.start(t, e.spec("initial", "acc"), rec1)
	rec1.waitFor(t, 100)
	rec1.release() // the first chunk is confirmed; the second is never
	weirtest.Eventually(t, 10*time.Second, func() error {
		if st, _ := r1.loadSnapshot(context.Background()); st == nil || st.Tables["public.acc"] == nil || st.Tables["public.acc"].Rows != 100 {
			return fmt.Errorf("progress %+v", st)
		}
		return nil
	})
	rec1.waitFor(t, 200)
	require.NoError(t, r1.Stop(context.Background()))
	rec2 := &recorder{}
	r2 := e.start(t, e.spec("initial", "acc"), rec2)
	cs := rec2.waitFor(t, 900)
	require.Equal(t, "weir_shop:snapshot:public.acc:101", cs[0].ID)
	require.Equal(t, "last", cs[899].Value.Source.Snapshot)
	weirtest.Eventually(t, 10*time.Second, func() error {
		if st := r2.Status(context.Background()); st.State != "streaming" {
			return fmt.Errorf("state %s", st.State)
		}
		return nil
	})
}

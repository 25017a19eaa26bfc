package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// A snapshot taken while writes continue, followed by the stream, ends with
// the latest state per key equal to the table.
func TestSnapshotWhileWriting(t *testing.T) {
	t.Parallel()
	m := weirtest.StartMariaDB(t)
	m.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, n INT NOT NULL)",
		"INSERT INTO shop.orders SELECT seq, 0 FROM shop.seq_1_to_5000")
	db := m.DB(t, "shop")
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil && i < 2000; i++ {
			_, _ = db.Exec("UPDATE orders SET n = n + 1 WHERE id = ?", 1+(i*37)%6000)
			_, _ = db.Exec("INSERT INTO orders VALUES (?, 1) ON DUPLICATE KEY UPDATE n = n + 1", 5000+i%1000)
			if i%10 == 0 {
				_, _ = db.Exec("DELETE FROM orders WHERE id = ?", 1+(i*53)%5000)
			}
		}
	}()
	kv := startKV(t)
	r, rec := newReader(t, kv, spec(m, "initial", "shop.orders"), false)
	weirtest.EventuallyTrue(t, 60*time.Second, func() bool { return r.Status(context.Background()).State == "streaming" }, "not streaming")
	stop()
	wg.Wait()
	want := tableState(t, db)
	weirtest.Eventually(t, 60*time.Second, func() error {
		got := map[string]string{}
		for _, c := range rec.all() {
			k := fmt.Sprint(c.Key[0])
			if c.Value.After == nil {
				delete(got, k)
			} else {
				got[k] = fmt.Sprint(obj(t, c.Value.After)["n"])
			}
		}
		if len(got) != len(want) {
			return fmt.Errorf("%d keys on the bus, %d in the table", len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				return fmt.Errorf("key %s: %s on the bus, %s in the table", k, got[k], v)
			}
		}
		return nil
	})
	cs := rec.all()
	require.Equal(t, "r", cs[0].Value.Op)
	require.Equal(t, fmt.Sprintf("shop:snapshot:shop.orders:%v", cs[0].Key[0]), cs[0].ID)
	require.Equal(t, "true", cs[0].Value.Source.Snapshot)
	st := r.Status(context.Background())
	require.Len(t, st.Snapshot, 1)
	require.True(t, st.Snapshot[0].Done)
	weirtest.Eventually(t, 10*time.Second, func() error {
		_, err := kv.Get(context.Background(), "shop.position")
		return err
	})
	require.NoError(t, r.Stop(context.Background()))
	removed, err := r.Drop(context.Background())
	require.NoError(t, err)
	require.Len(t, removed, 2)
	_, err = kv.Get(context.Background(), "shop.position")
	require.Error(t, err)
}

func tableState(t testing.TB, db *sql.DB) map[string]string {
	rows, err := db.Query("SELECT id, n FROM orders")
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, n int
		require.NoError(t, rows.Scan(&id, &n))
		out[fmt.Sprint(id)] = fmt.Sprint(n)
	}
	return out
}

// BenchmarkMariaDBReader: one INSERT of b.N rows (MariaDB's SEQUENCE engine)
// to the emitter's having seen them all, in changes/s.
func BenchmarkMariaDBReader(b *testing.B) {
	m := weirtest.StartMariaDB(b)
	m.Exec(b, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, total DECIMAL(10,2), note VARCHAR(64), at DATETIME(3))")
	_, rec := newReader(b, startKV(b), spec(m, "never", "shop.orders"), false)
	weirtest.EventuallyTrue(b, 30*time.Second, func() bool { return rec.reader.Status(context.Background()).State == "streaming" }, "not streaming")
	b.ResetTimer()
	start := time.Now()
	m.Exec(b, fmt.Sprintf("INSERT INTO shop.orders SELECT seq, seq/100, CONCAT('note ', seq), NOW(3) FROM shop.seq_1_to_%d", b.N))
	weirtest.EventuallyTrue(b, 10*time.Minute, func() bool { return len(rec.all()) >= b.N }, "not all changes")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "changes/s")
}

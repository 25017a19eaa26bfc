package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// BenchmarkPostgresCDCThroughput: one INSERT ... SELECT generate_series of
// b.N rows into a table an in-process weir captures, timed from the commit
// until the EVENTS stream holds every change (each one acknowledged by the
// bus). The figure: -benchtime=1000000x. It runs with weir's
// default archive, a second consumer of every event that competes for the
// same cores, and without it (archive: {disabled: true}).
func BenchmarkPostgresCDCThroughput(b *testing.B) {
	b.Run("archive", func(b *testing.B) { benchPostgresCDCThroughput(b, "") })
	b.Run("no-archive", func(b *testing.B) { benchPostgresCDCThroughput(b, "archive: {disabled: true}\n") })
}

func benchPostgresCDCThroughput(b *testing.B, more string) {
	rows := b.N
	pg := weirtest.StartPostgres(b)
	pg.Exec(b, "", `CREATE TABLE bench (id int8 PRIMARY KEY, name text, amount numeric, at timestamptz)`)
	bb := startB(b, pgCDCConfig(b, pg, []string{"bench"}, "snapshot: never", more))
	js := bb.srv.Bus().JetStream()
	const filter = "events.db.public.bench"
	b.ResetTimer()
	begin := time.Now()
	pg.Exec(b, "", fmt.Sprintf(`INSERT INTO bench SELECT g, 'name '||g, g*1.5, now() FROM generate_series(1, %d) g`, rows))
	commit := time.Now()
	for {
		n, err := countStored(js, filter)
		if err != nil {
			b.Fatal(err)
		}
		if n >= uint64(rows) {
			break
		}
		if time.Since(commit) > 10*time.Minute {
			b.Fatalf("%d of %d changes stored after 10 minutes", n, rows)
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := time.Since(commit)
	b.ReportMetric(float64(rows)/done.Seconds(), "changes/s")
	b.ReportMetric(commit.Sub(begin).Seconds(), "insert-s")
	b.ReportMetric(done.Seconds(), "commit-to-stored-s")
}

// BenchmarkPostgresCDCLatency1000 and 10000: a paced writer commits small
// transactions (100 a second) of rate/100 rows until b.N changes are written
// (at least one transaction), each row carrying clock_timestamp() at its
// insert; a push subscriber reads it from the event and records the time
// since. p50/p99/max are reported. The figures: -benchtime=10000x
// (1,000/s for 10 s) and -benchtime=100000x (10,000/s for 10 s).
func BenchmarkPostgresCDCLatency1000(b *testing.B)  { benchCDCLatency(b, 1000) }
func BenchmarkPostgresCDCLatency10000(b *testing.B) { benchCDCLatency(b, 10000) }

func benchCDCLatency(b *testing.B, rate int) {
	const txPerSecond = 100
	perTx := rate / txPerSecond
	txs := max(b.N/perTx, 1)
	total := int64(txs * perTx)
	var mu sync.Mutex
	var lat []time.Duration
	var got atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Data struct {
				After struct {
					At time.Time `json:"at"`
				} `json:"after"`
			} `json:"data"`
		}
		err := json.NewDecoder(r.Body).Decode(&ev)
		d := time.Since(ev.Data.After.At)
		if err != nil || ev.Data.After.At.IsZero() {
			http.Error(w, "no data.after.at", http.StatusBadRequest)
			return
		}
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
		got.Add(1)
	}))
	defer app.Close()
	pg := weirtest.StartPostgres(b)
	pg.Exec(b, "", `CREATE TABLE lat (id bigserial PRIMARY KEY, at timestamptz NOT NULL)`)
	cfg := pgCDCConfig(b, pg, []string{"lat"}, "snapshot: never", "")
	sub := pushSub(app.URL, "db.public.lat")
	sub.Push.MaxInFlight = 64
	cfg.Subscriptions = map[string]*config.Subscription{"lat": sub}
	cfg.WithDefaults()
	startB(b, cfg)

	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, pg.DSN())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	sql := fmt.Sprintf(`INSERT INTO lat (at) SELECT clock_timestamp() FROM generate_series(1, %d)`, perTx)
	b.ResetTimer()
	{
		mu.Lock()
		lat = lat[:0]
		mu.Unlock()
		got.Store(0)
		tick := time.NewTicker(time.Second / txPerSecond)
		for range txs {
			<-tick.C
			if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
				b.Fatal(err)
			}
		}
		tick.Stop()
		deadline := time.Now().Add(2 * time.Minute)
		for got.Load() < total && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got.Load() < total {
			b.Fatalf("%d of %d changes pushed", got.Load(), total)
		}
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

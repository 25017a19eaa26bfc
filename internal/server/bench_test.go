package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/delivery"
)

// BenchmarkPushDelivery measures push delivery to one local receiver: b.N events
// are stored first, then a subscription that starts from the beginning drains
// them. The figure is events delivered per second (signed, acked, recorded).
func BenchmarkPushDelivery(b *testing.B) {
	var got atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if got.Add(1) == n {
			close(done)
		}
	}))
	defer app.Close()
	cfg := benchConfig(b)
	bb := startB(b, cfg)
	for i := range b.N {
		r := bb.post(b, fmt.Sprintf(`{"n":%d}`, i))
		if r != http.StatusAccepted {
			b.Fatalf("status %d", r)
		}
	}
	sub := pushSub(app.URL, "order.created")
	sub.Start = "all"
	sub.Push.MaxInFlight = 64
	b.ResetTimer()
	start := time.Now()
	if err := bb.srv.deliv.Create(context.Background(), "bench", sub, false, delivery.Creator{Token: "bench", Trusted: true}); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("delivered %d of %d", got.Load(), n)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkEndToEndLatency sends events through webhook ingress at a fixed rate
// (2,000 per second) to a push subscription, and reports the time from the
// event's acceptance (its CloudEvents time) to its arrival at the receiver.
func BenchmarkEndToEndLatency(b *testing.B) {
	var mu sync.Mutex
	var lat []time.Duration
	var got atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Time time.Time `json:"time"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		d := time.Since(ev.Time)
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
		got.Add(1)
	}))
	defer app.Close()
	cfg := benchConfig(b)
	sub := pushSub(app.URL, "order.created")
	sub.Push.MaxInFlight = 64
	cfg.Subscriptions = map[string]*config.Subscription{"e2e": sub}
	cfg.WithDefaults()
	bb := startB(b, cfg)
	const rate = 2000
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range b.N {
		<-tick.C
		wg.Go(func() { bb.post(b, fmt.Sprintf(`{"n":%d}`, i)) })
	}
	wg.Wait()
	deadline := time.Now().Add(time.Minute)
	for got.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	if len(lat) == 0 {
		b.Fatal("nothing delivered")
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

func benchConfig(b *testing.B) *config.Config {
	cfg, err := config.Parse([]byte(`
server: {addr: "127.0.0.1:0"}
log: {level: error}
tokens: [{name: admin, secret: bench-admin-token-0123, roles: [admin]}]
sources:
  open: {verify: {scheme: none}, type: order.created}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	cfg.DataDir = b.TempDir()
	return cfg
}

type benchBundle struct {
	srv    *Server
	base   string
	client *http.Client
}

func startB(b *testing.B, cfg *config.Config) *benchBundle {
	srv := New(cfg, discardLogger(), io.Discard)
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return &benchBundle{srv: srv, base: "http://" + srv.Addr(), client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
}

func (bb *benchBundle) post(b *testing.B, body string) int {
	resp, err := bb.client.Post(bb.base+"/in/open", "application/json", stringsReader(body))
	if err != nil {
		b.Error(err)
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

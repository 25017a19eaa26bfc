package ingress

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/verify"
)

// setup runs an embedded bus and a webhook handler with one source, shop,
// signed the Standard Webhooks way.
func setup(tb testing.TB) (*Webhooks, *bus.Bus) {
	tb.Helper()
	return setupSources(tb, map[string]config.Source{"shop": {
		Verify: config.Verify{Scheme: "standard-webhooks", Secrets: []string{benchSecret}, Tolerance: 5 * time.Minute},
		Type:   "order.created",
	}})
}

// setupSources runs an embedded bus and a webhook handler over sources;
// a zero DedupeWindow or MaxBody gets the defaults (1h, 1 MiB).
func setupSources(tb testing.TB, sources map[string]config.Source) (*Webhooks, *bus.Bus) {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := bus.Open(context.Background(), bus.Config{
		StoreDir: tb.TempDir(), Replicas: 1, MaxAge: time.Hour, DedupeWindow: time.Hour,
		MaxPayload: 8 << 20, Name: "bench",
	}, log)
	require.NoError(tb, err)
	tb.Cleanup(b.Close)
	var compiled []*Source
	for name, c := range sources {
		if c.DedupeWindow == 0 {
			c.DedupeWindow = time.Hour
		}
		if c.MaxBody == 0 {
			c.MaxBody = 1 << 20
		}
		src, err := NewSource(name, c)
		require.NoError(tb, err)
		compiled = append(compiled, src)
	}
	m := NewMetrics(prometheus.NewRegistry())
	return NewWebhooks(NewSourceSet(compiled...), NewPublisher(b, nil, NewGate(4096, time.Second), m, 5*time.Second, log, nil), 30*time.Second, m, log), b
}

const benchSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var benchBody = []byte(`{"order_id":"ord_8f14e45fceea167a5a36dedd4bea2543","customer":{"id":"cus_1042","email":"ada@example.com","country":"GB"},"items":[{"sku":"SKU-1","qty":2,"price":19.95},{"sku":"SKU-7","qty":1,"price":89.00}],"total":128.90,"currency":"EUR"}`)

// BenchmarkIngress measures POST /in/{source} end to end inside the process:
// verify a Standard Webhooks signature, parse, de-duplicate (bucket lookup),
// wrap, publish to the embedded JetStream and wait for its ack, record the
// delivery id. Many requests run at once, as under real load. Each request is
// signed in the loop (about a microsecond of the figure is the sender's work).
func BenchmarkIngress(b *testing.B) {
	wh, _ := setup(b)
	sc := verify.Config{Scheme: "standard-webhooks", Secrets: []string{benchSecret}}
	var n atomic.Int64
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := "msg_" + strconv.FormatInt(n.Add(1), 10)
			h, _ := verify.Sign(sc, benchBody, time.Now(), id)
			req := httptest.NewRequest(http.MethodPost, "/in/shop", bytes.NewReader(benchBody))
			req.Header = h
			req.Header.Set("Content-Type", "application/json")
			req.SetPathValue("source", "shop")
			rec := httptest.NewRecorder()
			wh.ServeHTTP(rec, req)
			if rec.Code != http.StatusAccepted {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}

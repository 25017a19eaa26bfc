package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/server"
)

// TestNoGoroutineLeakAfterLoad runs alone (not parallel): it counts goroutines
// before a node starts, puts load through ingress and push delivery, stops the
// node and checks that the count comes back.
func TestNoGoroutineLeakAfterLoad(t *testing.T) {
	before := runtime.NumGoroutine()

	var got atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
	}))
	cfg, err := config.Parse(fmt.Appendf(nil, `
server: {addr: "127.0.0.1:0"}
log: {level: error}
tokens: [{name: admin, secret: leak-test-admin-token, roles: [admin]}]
sources:
  shop: {verify: {scheme: none}, type: order.created, idempotency_key: "json:/n"}
subscriptions:
  app: {types: [order.*], push: {url: %q, secret: whsec_bGVhay10ZXN0LXNlY3JldC0xMjM0NTY=}}
`, app.URL), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	srv := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	require.NoError(t, srv.Start(context.Background()))

	const n = 500
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			resp, err := client.Post("http://"+srv.Addr()+"/in/shop", "application/json", bytes.NewReader(fmt.Appendf(nil, `{"n":%d}`, i)))
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for got.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.EqualValues(t, n, got.Load(), "every event is delivered")
	client.CloseIdleConnections()
	require.NoError(t, srv.Stop(context.Background()))
	app.Close()

	// Poll: goroutines of closed connections take a moment to return.
	deadline = time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after stop\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

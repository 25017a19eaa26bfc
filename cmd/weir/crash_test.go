package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// TestKillDuringDeliveryLosesNothing kills weir with SIGKILL while it takes
// webhooks and delivers them, restarts it, and checks that every event that got
// a 2xx reaches the micro app at least once.
func TestKillDuringDeliveryLosesNothing(t *testing.T) {
	t.Parallel()
	bin := weirtest.BuildWeir(t) // skips under -short

	var mu sync.Mutex
	received := map[string]int{}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ID string `json:"id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		time.Sleep(2 * time.Millisecond) // a micro app that takes a moment
		mu.Lock()
		received[ev.ID]++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer app.Close()

	dir := t.TempDir()
	addr := weirtest.FreeAddr(t)
	cfg := filepath.Join(dir, "weir.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`
data_dir: %s
server: {addr: "%s"}
log: {level: warn}
tokens: [{name: admin, secret: crash-test-admin-token, roles: [admin]}]
sources:
  shop: {verify: {scheme: none}, type: order.created, idempotency_key: "json:/n"}
subscriptions:
  app:
    types: [order.*]
    push: {url: "%s", secret: whsec_Y3Jhc2gtdGVzdC1zZWNyZXQtMTIzNDU2, retry: {initial: 50ms, max: 500ms}, max_attempts: 50}
`, filepath.Join(dir, "data"), addr, app.URL)), 0o600))

	acked := map[string]bool{}
	send := func(n int) bool {
		resp, err := http.Post("http://"+addr+"/in/shop", "application/json", bytes.NewReader(fmt.Appendf(nil, `{"n":%d}`, n)))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct{ ID string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode/100 == 2 {
			acked[body.ID] = true
		}
		return true
	}
	n := 0
	for round := range 3 {
		w := weirtest.Serve(t, bin, cfg, addr, os.Stderr)
		for range 150 {
			require.True(t, send(n))
			n++
		}
		// Kill while deliveries are still going on.
		w.Kill()
		t.Logf("round %d: killed with %d events acked so far", round, len(acked))
	}
	weirtest.Serve(t, bin, cfg, addr, os.Stderr)
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for id := range acked {
			if received[id] == 0 {
				missing++
			}
		}
		dups := 0
		for _, c := range received {
			dups += c - 1
		}
		mu.Unlock()
		if missing == 0 {
			t.Logf("acked %d, delivered %d distinct, %d duplicates, lost 0", len(acked), len(acked), dups)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lost %d of %d acked events", missing, len(acked))
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Len(t, acked, 450, "every request was acked before its kill")
}

package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

func TestMain(m *testing.M) { weirtest.Main(m) }

// A kill -9 of weir while it loads ClickHouse, three times, while events keep
// arriving: nothing accepted is lost, and after FINAL nothing is doubled.
func TestClickHouseSinkSurvivesKill9(t *testing.T) {
	t.Parallel()
	bin := weirtest.BuildWeir(t)
	ch := weirtest.StartClickHouse(t)
	dir := t.TempDir()
	addr := weirtest.FreeAddr(t)
	conf := fmt.Sprintf(`data_dir: %q
server: {addr: %q}
log: {level: warn}
tokens: [{name: admin, secret: %q, roles: [admin]}]
sinks:
  warehouse:
    types: ["order.*"]
    clickhouse: {addr: %q, batch: {max_rows: 500, max_wait: 20ms}}
`, filepath.Join(dir, "data"), addr, adminSecret, ch.NativeAddr)
	path := filepath.Join(dir, "weir.yaml")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	logf, err := os.Create(filepath.Join(dir, "weir.log"))
	require.NoError(t, err)
	defer logf.Close()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("weir's log:\n%s", b)
		}
	})
	p := weirtest.Serve(t, bin, path, addr, logf)

	// The publisher: batches of 200 until stopped; a batch refused or cut off
	// by a kill is sent again until accepted (ingress de-duplicates by id).
	var mu sync.Mutex
	accepted := 0
	stop := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		client := &http.Client{Timeout: 10 * time.Second}
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			var b strings.Builder
			b.WriteByte('[')
			for i := range 200 {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"specversion":"1.0","id":"k-%d-%d","source":"/apps/shop","type":"order.created","data":{"n":%d}}`, n, i, i)
			}
			b.WriteByte(']')
			for {
				req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://"+addr+"/v1/events", strings.NewReader(b.String()))
				req.Header.Set("Authorization", "Bearer "+adminSecret)
				req.Header.Set("Content-Type", "application/cloudevents-batch+json")
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusAccepted {
						break
					}
				}
				// The node is restarting. A batch cut off here may be stored in
				// part, so it is sent again until accepted, even after stop.
				time.Sleep(20 * time.Millisecond)
			}
			mu.Lock()
			accepted += 200
			mu.Unlock()
		}
	}()

	rows := func() int {
		out, err := ch.TryQuery("SELECT count() FROM weir_events")
		if err != nil {
			return 0
		}
		var n int
		fmt.Sscan(strings.TrimSpace(out), &n)
		return n
	}
	for round := 1; round <= 3; round++ {
		floor := rows()
		weirtest.EventuallyTrue(t, time.Minute, func() bool { return rows() > floor+1000 }, "the sink loads nothing")
		p.Kill()
		p.Start()
	}
	weirtest.EventuallyTrue(t, time.Minute, func() bool { return rows() > 0 }, "nothing loaded after the last restart")
	close(stop)
	<-pubDone
	mu.Lock()
	total := accepted
	mu.Unlock()
	require.Positive(t, total)
	want := fmt.Sprintf("%d\t%d\n", total, total)
	weirtest.Eventually(t, 2*time.Minute, func() error {
		got, err := ch.TryQuery("SELECT count(), uniqExact(id) FROM weir_events FINAL")
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("count() and uniqExact(id) with FINAL are %q, want %q", got, want)
		}
		return nil
	})
	p.Kill()
}

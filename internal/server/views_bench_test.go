package server

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weir-dev/weir/internal/config"
)

// BenchmarkViewRead measures GET /v1/views/{name}/{key} on a latest view of
// 1,000 keys, from 16 concurrent clients: reads/s and the p99 latency.
func BenchmarkViewRead(b *testing.B) {
	cfg := benchConfig(b)
	cfg.Views = map[string]*config.View{"orders": {Kind: "latest", Types: []string{"order.*"}, Key: "/id",
		Fields: map[string]string{"status": "/status", "total": "/total"}}}
	bb := startB(b, cfg)
	const keys = 1000
	for i := range keys {
		if r := bb.post(b, fmt.Sprintf(`{"id":"o-%d","status":"paid","total":%d}`, i, i)); r != http.StatusAccepted {
			b.Fatalf("status %d", r)
		}
	}
	get := func(key string) (int, time.Duration) {
		req, _ := http.NewRequest(http.MethodGet, bb.base+"/v1/views/orders/"+key, nil)
		req.Header.Set("Authorization", "Bearer bench-admin-token-0123")
		start := time.Now()
		resp, err := bb.client.Do(req)
		if err != nil {
			b.Error(err)
			return 0, 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if s, _ := get(fmt.Sprint("o-", keys-1)); s == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the view did not catch up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(8) // 16 clients on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for i := 0; pb.Next(); i++ {
			s, d := get(fmt.Sprint("o-", i%keys))
			if s != http.StatusOK {
				b.Errorf("status %d", s)
				return
			}
			mine = append(mine, d)
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "reads/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}

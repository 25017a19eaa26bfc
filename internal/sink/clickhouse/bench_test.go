package clickhouse

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/sink"
	"github.com/weir-dev/weir/internal/view"
)

// BenchmarkWrite measures Write into the events table with 10,000-row
// batches of ~300-byte events (reported as rows/s), alone and with the twin
// of one view. Run it once with -benchtime 20x: each iteration is one batch.
func BenchmarkWrite(b *testing.B) {
	views := map[string]map[string]*config.View{
		"events": nil,
		"count-view": {"per-minute": {Kind: config.ViewCount, Types: []string{"order.*"},
			By: []string{"type", "/customer/id"}, Sum: "/total"}},
		"latest-view": {"orders": {Kind: config.ViewLatest, Types: []string{"order.*"}, Key: "/order_id",
			Fields: map[string]string{"total": "/total", "currency": "/currency"}}},
	}
	for _, name := range []string{"events", "count-view", "latest-view"} {
		b.Run(name, func(b *testing.B) {
			var specs map[string]*view.Spec
			if views[name] != nil {
				specs = compile(b, views[name])
			}
			benchmarkWrite(b, specs)
		})
	}
}

func benchmarkWrite(b *testing.B, views map[string]*view.Spec) {
	h := newViewsHarness(b, nil, views)
	start(b, h.Sink)
	const rows = 10000
	batch := make([]sink.Record, rows)
	for i := range batch {
		r := record(fmt.Sprintf("01J%023d", i), "order.created",
			fmt.Sprintf(`{"order_id":"o-%d","customer":{"id":"c-%d","email":"c%d@example.com"},"total":%d.99,"currency":"EUR","items":[{"sku":"SKU-%d","qty":%d}]}`, i, i%977, i%977, i%500, i%100, i%5+1))
		r.Event.Subject = fmt.Sprintf("orders/%d", i)
		r.Event.Extensions = map[string]any{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
		r.Event.Time = r.Event.Time.Add(time.Duration(i) * time.Millisecond)
		r.Seq = uint64(i + 1)
		batch[i] = r
	}
	b.SetBytes(int64(rows * len(batch[0].Raw)))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := h.Sink.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
}

package clickhouse

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/weir-dev/weir/internal/sink"
)

// BenchmarkWrite measures Write into the events table with 10,000-row
// batches of ~300-byte events (reported as rows/s). Run it once with
// -benchtime 20x: each iteration is one batch.
func BenchmarkWrite(b *testing.B) {
	h := NewHarness(b, nil)
	start(b, h.Sink)
	const rows = 10000
	batch := make([]sink.Record, rows)
	for i := range batch {
		r := record(fmt.Sprintf("01J%023d", i), "order.created",
			fmt.Sprintf(`{"order_id":"o-%d","customer":{"id":"c-%d","email":"c%d@example.com"},"total":%d.99,"currency":"EUR","items":[{"sku":"SKU-%d","qty":%d}]}`, i, i%977, i%977, i%500, i%100, i%5+1))
		r.Event.Subject = fmt.Sprintf("orders/%d", i)
		r.Event.Extensions = map[string]any{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
		r.Event.Time = r.Event.Time.Add(time.Duration(i) * time.Millisecond)
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

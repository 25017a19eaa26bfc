package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/sink"
	"github.com/weir-dev/weir/internal/weirtest"
)

// BenchmarkSinkClickHouse measures a ClickHouse sink draining the bus into
// the default table: b.N events of ~320 bytes over three types are stored on
// an embedded bus first, then a sink.Runner (batches of 10,000 rows or 1 s)
// reads them from the start, and the clock stops when its consumer has
// nothing pending and nothing unacknowledged. The figure is events/s, from
// bus to ClickHouse with every batch acknowledged. Run it with
// -benchtime 200000x: a short run mostly measures the first batch's wait.
func BenchmarkSinkClickHouse(b *testing.B) {
	ctx := context.Background()
	bs, dead := benchBus(b)
	preload(b, bs, b.N)
	srv := weirtest.StartClickHouse(b)
	spec := &config.Sink{Types: []string{">"}, Start: "all", ClickHouse: &config.ClickHouseSink{
		Addr:  srv.NativeAddr,
		Batch: config.SinkBatch{MaxRows: DefaultMaxRows, MaxWait: config.Duration(DefaultMaxWait)},
	}}
	spec.WithDefaults()
	s, err := New(spec, sink.Deps{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	r, err := sink.NewRunner(bs.JetStream(), sink.RunnerConfig{Name: "bench", Spec: spec, Sink: s, DeadLetters: dead})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Stop(context.Background()) })

	b.ResetTimer()
	if err := r.Start(ctx); err != nil {
		b.Fatal(err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		<-tick.C
		info, err := r.Consumer().Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream >= uint64(b.N) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the sink did not drain: %d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
	}
	elapsed := b.Elapsed()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	if t := r.Progress().Totals(); t.DeadLettered > 0 || t.Rows != uint64(b.N) {
		b.Fatalf("%d rows written and %d dead letters, want %d rows", t.Rows, t.DeadLettered, b.N)
	}
	got := srv.Query(b, "SELECT count() FROM weir_events")
	if want := fmt.Sprintf("%d\n", b.N); got != want {
		b.Fatalf("weir_events holds %q rows, want %q", got, want)
	}
}

// benchBus is an embedded bus on a fresh folder, and its dead-letter store.
func benchBus(b *testing.B) (*bus.Bus, *deadletter.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bs, err := bus.Open(ctx, bus.Config{StoreDir: b.TempDir(), Name: "sink-bench", MaxAge: time.Hour}, weirtest.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(bs.Close)
	dead, err := deadletter.Open(ctx, bs.JetStream(), time.Hour, 1)
	if err != nil {
		b.Fatal(err)
	}
	return bs, dead
}

// benchTypes are the preloaded events' types, taken in turn.
var benchTypes = []string{"order.created", "order.paid", "shipment.sent"}

// preload stores n CloudEvents of ~320 bytes, shaped as webhook ingress
// stores them (a ULID-long id, time, traceparent, JSON data), on the bus as
// ingress does (subject events.<type>, id and type headers),
// asynchronously, and waits for every ack.
func preload(b *testing.B, bs *bus.Bus, n int) {
	js := bs.JetStream()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		typ := benchTypes[i%len(benchTypes)]
		id := fmt.Sprintf("01J%023d", i)
		raw, err := json.Marshal(map[string]any{
			"specversion": "1.0", "id": id, "source": "/apps/shop", "type": typ,
			"time":            base.Add(time.Duration(i) * time.Millisecond),
			"datacontenttype": "application/json",
			"traceparent":     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
			"data": json.RawMessage(fmt.Sprintf(`{"order_id":"o-%d","customer":"c-%d","total":%d.99,"items":%d}`,
				i, i%977, i%500, i%5+1)),
		})
		if err != nil {
			b.Fatal(err)
		}
		msg := nats.NewMsg(bus.EventsPrefix + typ)
		msg.Header.Set(bus.HeaderEventID, id)
		msg.Header.Set(bus.HeaderEventType, typ)
		msg.Data = raw
		if _, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(5*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		b.Fatal("the bus did not ack the preloaded events")
	}
	info, err := bs.Events().Info(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if info.State.Msgs != uint64(n) {
		b.Fatalf("the bus holds %d events, want %d", info.State.Msgs, n)
	}
}

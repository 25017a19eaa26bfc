package view

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/weirtest"
)

// TestFetchErrorIsNotCaughtUp: a fetch that ends on an error before any
// event (here its consumer deleted under it) says nothing of the lag; it
// must not count as caught up while the bus holds events not applied, or a
// rebuild would swap in a generation missing them.
func TestFetchErrorIsNotCaughtUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	js := b.JetStream()
	publish(t, b, "1", "order.created", time.Now(), map[string]any{"id": "k1"})

	spec, err := Compile("orders", orders["orders"])
	require.NoError(t, err)
	st, err := openStore(t.Context(), js, "orders", 1, 1, time.Hour)
	require.NoError(t, err)
	states, err := js.CreateOrUpdateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: StatesBucket})
	require.NoError(t, err)
	var caught []uint64
	r := newRunner(spec, 1, st, js, states, NewMetrics(nil), weirtest.Logger(t), func(g uint64) { caught = append(caught, g) })

	// A consumer with nothing for it (it starts after the stream's last
	// event), deleted while a fetch waits on it.
	cons, err := js.CreateConsumer(t.Context(), bus.EventsStream, jetstream.ConsumerConfig{
		Durable: "gone", DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(30*time.Second))
	require.NoError(t, err)
	require.NoError(t, js.DeleteConsumer(t.Context(), bus.EventsStream, "gone"))

	pos, ok, err := r.drain(t.Context(), batch, 0)
	require.Error(t, err, "the fetch ended on an error")
	require.True(t, ok)
	require.Zero(t, pos)
	require.Empty(t, caught, "a failed fetch counted as caught up")
	require.False(t, r.live.Load())
	require.EqualValues(t, -1, r.lag.Load())
}

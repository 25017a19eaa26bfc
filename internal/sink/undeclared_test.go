package sink

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/weirtest"
)

// TestStartKeepsTheConsumerOfASinkItCannotRun: a sink created through the
// API that this node cannot run (here: it has no provider of its kind) is
// still declared; its consumer, and so its position, stays for the nodes
// that run it.
func TestStartKeepsTheConsumerOfASinkItCannotRun(t *testing.T) {
	t.Parallel()
	b, dead := openBus(t)
	js := b.JetStream()
	kv, err := js.CreateOrUpdateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: Bucket, History: 1, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	spec := chSink("order.>")
	spec.WithDefaults()
	raw, err := json.Marshal(spec)
	require.NoError(t, err)
	_, err = kv.Put(t.Context(), "spec.elsewhere", raw)
	require.NoError(t, err)
	_, err = js.CreateConsumer(t.Context(), bus.EventsStream, ConsumerConfig("elsewhere", spec, Batching{MaxRows: 10, MaxWait: time.Second}, time.Minute))
	require.NoError(t, err)
	_, err = js.CreateConsumer(t.Context(), bus.EventsStream, ConsumerConfig("gone", spec, Batching{MaxRows: 10, MaxWait: time.Second}, time.Minute))
	require.NoError(t, err)

	m, err := NewManager(b, ManagerConfig{Registry: NewRegistry(), DeadLetters: dead, Log: weirtest.Logger(t)}, nil)
	require.NoError(t, err)
	require.NoError(t, m.Start(t.Context()))
	t.Cleanup(func() { _ = m.Stop(context.Background()) })

	_, err = js.Consumer(t.Context(), bus.EventsStream, ConsumerPrefix+"elsewhere")
	require.NoError(t, err, "the consumer of a sink still in the bucket is kept")
	_, err = js.Consumer(t.Context(), bus.EventsStream, ConsumerPrefix+"gone")
	require.ErrorIs(t, err, jetstream.ErrConsumerNotFound, "the consumer of a sink declared nowhere is removed")
}

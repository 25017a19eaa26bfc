package sink

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// down is a provider of kind clickhouse whose stores are down for good.
type down struct {
	mu       sync.Mutex
	attempts int
}

func (d *down) Kind() string { return "clickhouse" }

func (d *down) New(spec *config.Sink, _ Deps) (Sink, error) {
	return &downStore{d: d, batching: Batching{MaxRows: spec.ClickHouse.Batch.MaxRows, MaxWait: spec.ClickHouse.Batch.MaxWait.D()}}, nil
}

func (d *down) tried() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attempts
}

type downStore struct {
	d        *down
	batching Batching
}

func (s *downStore) Start(context.Context) error { return nil }
func (s *downStore) Stop(context.Context) error  { return nil }
func (s *downStore) Batching() Batching          { return s.batching }

func (s *downStore) Write(context.Context, []Record) error {
	s.d.mu.Lock()
	s.d.attempts++
	s.d.mu.Unlock()
	return errConnRefused
}

var errConnRefused = errors.New("dial tcp 127.0.0.1:9000: connect: connection refused")

// TestManagerStopEndsWhileTheStoreIsDown: a shutdown with no deadline of
// its own still ends while a store is down; the batch in hand is left
// unacknowledged for the bus to hand out again.
func TestManagerStopEndsWhileTheStoreIsDown(t *testing.T) {
	t.Parallel()
	b, dead := openBus(t)
	prov := &down{}
	spec := chSink("order.>")
	spec.Start = "all"
	m, err := NewManager(b, ManagerConfig{Sinks: map[string]*config.Sink{"orders": spec}, Registry: NewRegistry(prov),
		DeadLetters: dead, Log: weirtest.Logger(t)}, nil)
	require.NoError(t, err)
	m.stopWait = 100 * time.Millisecond
	require.NoError(t, m.Start(t.Context()))
	publishData(t, b, "order.created", "o-1", `{}`)
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool { return prov.tried() > 0 }, "the store is tried")

	stopped := make(chan error, 1)
	go func() { stopped <- m.Stop(context.Background()) }()
	select {
	case <-stopped:
	case <-time.After(60 * time.Second):
		t.Fatal("Stop hangs while the store is down")
	}
}

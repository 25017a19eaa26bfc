// Package sinktest is the conformance suite every sink provider passes
// (watermill's pubsub tests and outpost's drivertest are the model): Run
// drives a provider's sinks through a real Runner on an embedded bus, and
// checks what a reader of the store sees.
package sinktest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery/backoff"
	"github.com/weir-dev/weir/internal/sink"
	"github.com/weir-dev/weir/internal/weirtest"
)

// Harness is what a provider gives the suite.
type Harness struct {
	// New returns a fresh sink (not started) over a fresh store, and its Store.
	New func(t *testing.T, batching sink.Batching) (sink.Sink, Store)
}

// Store is the suite's view of the store behind a sink.
type Store interface {
	// Copies returns, per event id, how many rows a reader sees (after the store's own de-duplication).
	Copies(ctx context.Context) (map[string]int, error)
	// Break makes the store unavailable.
	Break(t *testing.T)
	// Mend makes it available again.
	Mend(t *testing.T)
}

// within bounds every wait of the suite.
const within = 60 * time.Second

// Run runs every check of the suite, each on its own embedded bus.
func Run(t *testing.T, h Harness) {
	t.Run("batching", func(t *testing.T) { testBatching(t, h) })
	t.Run("retry after a failure", func(t *testing.T) { testRetry(t, h) })
	t.Run("at-least-once under a kill", func(t *testing.T) { testKill(t, h) })
	t.Run("shutdown flushes", func(t *testing.T) { testShutdownFlushes(t, h) })
}

// bundle is one subtest's bus and sink.
type bundle struct {
	bus   *bus.Bus
	dead  *deadletter.Store
	store Store
	sink  *counting
	spec  *config.Sink
}

func setup(t *testing.T, h Harness, b sink.Batching) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bs, err := bus.Open(ctx, bus.Config{StoreDir: t.TempDir(), Name: "sinktest", MaxAge: time.Hour}, weirtest.Logger(t))
	require.NoError(t, err)
	t.Cleanup(bs.Close)
	dead, err := deadletter.Open(ctx, bs.JetStream(), time.Hour, 1)
	require.NoError(t, err)
	s, store := h.New(t, b)
	return &bundle{bus: bs, dead: dead, store: store, sink: &counting{Sink: s},
		spec: &config.Sink{Types: []string{"sinktest.>"}, Start: "all"}}
}

// runner starts a runner over s; the test stops it at its end.
func (b *bundle) runner(t *testing.T, s sink.Sink) *sink.Runner {
	t.Helper()
	r, err := sink.NewRunner(b.bus.JetStream(), sink.RunnerConfig{
		Name: "conformance", Spec: b.spec, Sink: s, DeadLetters: b.dead, Log: weirtest.Logger(t),
		// A short AckWait, so that what a killed runner held comes back
		// within the test; and retries close together.
		AckWait: 2 * time.Second,
		Backoff: backoff.Policy{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond},
	})
	require.NoError(t, err)
	require.NoError(t, r.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	return r
}

// publish stores n events, ids <prefix>-0 ... on the bus.
func (b *bundle) publish(t *testing.T, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		msg := nats.NewMsg(bus.EventsPrefix + "sinktest.created")
		msg.Header.Set(bus.HeaderEventID, ids[i])
		msg.Header.Set(bus.HeaderEventType, "sinktest.created")
		msg.Data = fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"/sinktest","type":"sinktest.created","time":"2026-01-02T03:04:05Z","datacontenttype":"application/json","data":{"n":%d}}`, ids[i], i)
		_, err := b.bus.Publish(t.Context(), msg, "")
		require.NoError(t, err)
	}
	return ids
}

// awaitExactlyOnce waits until the store shows each id once and nothing else.
func (b *bundle) awaitExactlyOnce(t *testing.T, ids []string) {
	t.Helper()
	weirtest.Eventually(t, within, func() error {
		copies, err := b.store.Copies(t.Context())
		if err != nil {
			return err
		}
		for _, id := range ids {
			if copies[id] != 1 {
				return fmt.Errorf("event %s: %d copies, want 1 (%d ids stored of %d)", id, copies[id], len(copies), len(ids))
			}
		}
		if len(copies) != len(ids) {
			return fmt.Errorf("%d ids stored, want %d", len(copies), len(ids))
		}
		return nil
	})
}

// pending is the consumer's lag and events in flight.
func pending(t *testing.T, r *sink.Runner) (lag uint64, inFlight int) {
	t.Helper()
	info, err := r.Consumer().Info(t.Context())
	require.NoError(t, err)
	return info.NumPending, info.NumAckPending
}

func testBatching(t *testing.T, h Harness) {
	const n, k = 95, 10
	b := setup(t, h, sink.Batching{MaxRows: k, MaxWait: 200 * time.Millisecond})
	ids := b.publish(t, "batch", n)
	r := b.runner(t, b.sink)
	b.awaitExactlyOnce(t, ids)
	// The store shows a batch's rows before its Write returns and is
	// counted: wait for the count too.
	var sizes []int
	weirtest.Eventually(t, within, func() error {
		sizes = b.sink.written()
		rows := 0
		for _, s := range sizes {
			rows += s
		}
		if rows < n {
			return fmt.Errorf("%d rows counted in written batches, want %d", rows, n)
		}
		return nil
	})
	require.GreaterOrEqual(t, len(sizes), (n+k-1)/k, "batches of at most %d rows", k)
	for _, s := range sizes {
		require.LessOrEqual(t, s, k)
	}
	weirtest.Eventually(t, within, func() error {
		if lag, inFlight := pending(t, r); lag != 0 || inFlight != 0 {
			return fmt.Errorf("lag %d, in flight %d after all were stored", lag, inFlight)
		}
		return nil
	})
}

func testRetry(t *testing.T, h Harness) {
	const n = 50
	b := setup(t, h, sink.Batching{MaxRows: 10, MaxWait: 50 * time.Millisecond})
	// The store fails while the sink runs, after it has written: the sink is
	// started (connected, tables made) and its writes fail.
	r := b.runner(t, b.sink)
	before := b.publish(t, "before", 10)
	b.awaitExactlyOnce(t, before)
	b.store.Break(t)
	ids := append(before, b.publish(t, "retry", n)...)
	weirtest.Eventually(t, within, func() error {
		lag, _ := pending(t, r)
		if f := b.sink.failed(); f < 2 || lag == 0 {
			return fmt.Errorf("%d failed writes and lag %d; want at least 2 and a lag", f, lag)
		}
		return nil
	})
	require.True(t, r.Progress().Totals().Failing)
	b.store.Mend(t)
	b.awaitExactlyOnce(t, ids)
	weirtest.Eventually(t, within, func() error {
		if lag, inFlight := pending(t, r); lag != 0 || inFlight != 0 {
			return fmt.Errorf("lag %d, in flight %d after the store came back", lag, inFlight)
		}
		return nil
	})
}

func testKill(t *testing.T, h Harness) {
	const n = 100
	b := setup(t, h, sink.Batching{MaxRows: 10, MaxWait: 50 * time.Millisecond})
	ids := b.publish(t, "kill", n)
	// The first runner's fourth batch is stored, then the runner dies
	// before it can acknowledge it: the worst moment for at-least-once.
	first := &counting{Sink: b.sink.Sink, killAfter: 3, killed: make(chan struct{}), noStop: true}
	r1 := b.runner(t, first)
	select {
	case <-first.killed:
	case <-time.After(within):
		t.Fatal("the first runner never wrote its fourth batch")
	}
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, r1.Stop(dead), context.Canceled, "a stop whose context has ended abandons the batch in hand")
	require.NoError(t, r1.Stop(t.Context()), "the killed runner ends")
	acked := 0
	for _, s := range first.written()[:3] {
		acked += s
	}
	// A new runner on the same consumer, over the same store (as weir
	// restarted would be); the store was started once and is stopped once.
	second := &counting{Sink: b.sink.Sink, noStart: true}
	r2 := b.runner(t, second)
	// Every event not acknowledged comes again, the batch the store took
	// before the kill included (after AckWait).
	weirtest.Eventually(t, within, func() error {
		rows := 0
		for _, s := range second.written() {
			rows += s
		}
		if lag, inFlight := pending(t, r2); rows != n-acked || lag != 0 || inFlight != 0 {
			return fmt.Errorf("the new runner wrote %d rows, want %d; lag %d, in flight %d", rows, n-acked, lag, inFlight)
		}
		return nil
	})
	b.awaitExactlyOnce(t, ids)
}

func testShutdownFlushes(t *testing.T, h Harness) {
	const n = 25
	b := setup(t, h, sink.Batching{MaxRows: 1000, MaxWait: time.Minute})
	r := b.runner(t, b.sink)
	ids := b.publish(t, "flush", n)
	weirtest.Eventually(t, within, func() error {
		if lag, inFlight := pending(t, r); lag != 0 || inFlight != n {
			return fmt.Errorf("lag %d, in flight %d; want all %d in the runner's hands", lag, inFlight, n)
		}
		return nil
	})
	require.Empty(t, b.sink.written(), "nothing is written before the batch is full or old")
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	require.NoError(t, r.Stop(ctx))
	b.awaitExactlyOnce(t, ids)
	require.Equal(t, []int{n}, b.sink.written())
}

// counting wraps a provider's sink: it records each batch the store
// accepted and each failed write, and can die after killAfter batches.
type counting struct {
	sink.Sink
	killAfter int           // after this many stored batches, the next stored one never returns
	killed    chan struct{} // closed when that happens
	noStart   bool          // the store was started by an earlier runner
	noStop    bool          // a killed runner does not get to stop the store

	mu       sync.Mutex
	batches  []int
	failures int
	dead     bool
}

func (c *counting) Start(ctx context.Context) error {
	if c.noStart {
		return nil
	}
	return c.Sink.Start(ctx)
}

func (c *counting) Stop(ctx context.Context) error {
	if c.noStop {
		return nil
	}
	return c.Sink.Stop(ctx)
}

func (c *counting) Write(ctx context.Context, batch []sink.Record) error {
	c.mu.Lock()
	dead := c.dead
	c.mu.Unlock()
	if dead {
		<-ctx.Done()
		return ctx.Err()
	}
	err := c.Sink.Write(ctx, batch)
	c.mu.Lock()
	if err != nil {
		c.failures++
		c.mu.Unlock()
		return err
	}
	c.batches = append(c.batches, len(batch))
	die := c.killed != nil && len(c.batches) == c.killAfter+1
	c.dead = c.dead || die
	c.mu.Unlock()
	if die {
		close(c.killed)
		<-ctx.Done()
		return errors.Join(errors.New("killed after the store took the batch"), ctx.Err())
	}
	return nil
}

func (c *counting) written() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.batches...)
}

func (c *counting) failed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failures
}

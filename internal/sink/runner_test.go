package sink

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery/backoff"
	"github.com/weir-dev/weir/internal/weirtest"
)

// picky stands in for a store (these tests are about the runner; the
// stores' own runs are the conformance suite's): it refuses, for its
// content, any batch holding an event whose data says "poison", as
// ClickHouse refuses a batch with one value it cannot parse.
type picky struct {
	batching Batching
	mu       sync.Mutex
	rows     map[string]int
	writes   int
}

func (p *picky) Start(context.Context) error { return nil }
func (p *picky) Stop(context.Context) error  { return nil }
func (p *picky) Batching() Batching          { return p.batching }

func (p *picky) Write(_ context.Context, batch []Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writes++
	for _, r := range batch {
		if strings.Contains(string(r.Event.Data), "poison") {
			return &RefusedError{Reason: "Cannot parse input: expected a number at /total (" + r.Event.ID + ")"}
		}
	}
	for _, r := range batch {
		p.rows[r.Event.ID]++
	}
	return nil
}

func (p *picky) stored() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.rows {
		out[k] = v
	}
	return out
}

func openBus(t *testing.T) (*bus.Bus, *deadletter.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{StoreDir: t.TempDir(), Name: "sink-test", MaxAge: time.Hour}, weirtest.Logger(t))
	require.NoError(t, err)
	t.Cleanup(b.Close)
	dead, err := deadletter.Open(ctx, b.JetStream(), time.Hour, 1)
	require.NoError(t, err)
	return b, dead
}

func publishRaw(t *testing.T, b *bus.Bus, typ, id string, body []byte) {
	t.Helper()
	msg := nats.NewMsg(bus.EventsPrefix + typ)
	msg.Header.Set(bus.HeaderEventID, id)
	msg.Header.Set(bus.HeaderEventType, typ)
	msg.Data = body
	_, err := b.Publish(t.Context(), msg, "")
	require.NoError(t, err)
}

func publishData(t *testing.T, b *bus.Bus, typ, id, data string) {
	t.Helper()
	publishRaw(t, b, typ, id, fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"/t","type":%q,"datacontenttype":"application/json","data":%s}`, id, typ, data))
}

func startRunner(t *testing.T, b *bus.Bus, dead *deadletter.Store, spec *config.Sink, s Sink) *Runner {
	t.Helper()
	r, err := NewRunner(b.JetStream(), RunnerConfig{Name: "orders", Spec: spec, Sink: s, DeadLetters: dead,
		Log: weirtest.Logger(t), Backoff: backoff.Policy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}})
	require.NoError(t, err)
	require.NoError(t, r.Start(t.Context()))
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return r
}

func TestRunnerIsolatesRefusedRecordsAsDeadLetters(t *testing.T) {
	t.Parallel()
	b, dead := openBus(t)
	poisoned := map[string]bool{"o-7": true, "o-8": true, "o-31": true}
	for i := range 40 {
		id := fmt.Sprintf("o-%d", i)
		data := fmt.Sprintf(`{"total":%d}`, i)
		if poisoned[id] {
			data = `{"total":"poison"}`
		}
		publishData(t, b, "order.created", id, data)
	}
	// Not JSON: the bus holds something no sink can read.
	publishRaw(t, b, "order.created", "garbled", []byte("not a cloudevent"))
	// Skipped by the filter: acknowledged, neither stored nor a dead letter.
	publishData(t, b, "order.created", "small", `{"total":-1}`)
	p := &picky{batching: Batching{MaxRows: 64, MaxWait: 100 * time.Millisecond}, rows: map[string]int{}}
	spec := &config.Sink{Types: []string{"order.*"}, Start: "all", Filter: `!has(data.total) || type(data.total) != double || data.total >= 0.0`}
	r := startRunner(t, b, dead, spec, p)

	weirtest.Eventually(t, 30*time.Second, func() error {
		if got := len(p.stored()); got != 37 {
			return fmt.Errorf("%d events stored, want 37", got)
		}
		if n := r.Progress().Totals().DeadLettered; n != 4 {
			return fmt.Errorf("%d dead letters, want 4", n)
		}
		info, err := r.Consumer().Info(t.Context())
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("lag %d, in flight %d", info.NumPending, info.NumAckPending)
		}
		return nil
	})
	for id := range poisoned {
		require.NotContains(t, p.stored(), id)
	}
	require.NotContains(t, p.stored(), "small")

	list, _, err := dead.List(t.Context(), deadletter.Filter{Kind: deadletter.KindSink})
	require.NoError(t, err)
	require.Len(t, list, 4)
	got := map[string]*deadletter.DeadLetter{}
	for _, d := range list {
		got[d.EventID] = d
		require.Equal(t, "orders", d.Sink)
		require.NotEmpty(t, d.Guidance)
		require.NotEmpty(t, d.LastError)
	}
	for id := range poisoned {
		d := got[id]
		require.NotNil(t, d, id)
		require.Contains(t, d.Reason, "Cannot parse input: expected a number at /total ("+id+")", "the store's own reason")
		require.Equal(t, "order.created", d.EventType)
		require.NotZero(t, d.StreamSeq)
		require.Equal(t, "sink:orders", deadletter.CauseOf(d).Key)
	}
	require.Contains(t, got["garbled"].Reason, "cannot be read")
	require.JSONEq(t, `"not a cloudevent"`, string(got["garbled"].Event))
}

// flaky fails its first writes as a store that is down does.
type flaky struct {
	picky
	fail int
}

func (f *flaky) Write(ctx context.Context, batch []Record) error {
	f.mu.Lock()
	if f.fail > 0 {
		f.fail--
		f.mu.Unlock()
		return fmt.Errorf("dial tcp 127.0.0.1:9000: connect: connection refused")
	}
	f.mu.Unlock()
	return f.picky.Write(ctx, batch)
}

func TestRunnerWritesTheSameBatchAgainAfterATransientFailure(t *testing.T) {
	t.Parallel()
	b, dead := openBus(t)
	for i := range 5 {
		publishData(t, b, "order.created", fmt.Sprintf("o-%d", i), `{}`)
	}
	f := &flaky{picky: picky{batching: Batching{MaxRows: 5, MaxWait: time.Second}, rows: map[string]int{}}, fail: 3}
	r := startRunner(t, b, dead, &config.Sink{Types: []string{"order.>"}, Start: "all"}, f)
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool { return len(f.stored()) == 5 }, "the batch is stored")
	f.mu.Lock()
	require.Zero(t, f.fail, "three failures")
	require.Equal(t, 1, f.writes, "then the same batch of five, at once")
	f.mu.Unlock()
	// The store holds the batch a moment before the runner counts it.
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool { return r.Progress().Totals().Batches == 1 }, "the batch is counted")
	tot := r.Progress().Totals()
	require.False(t, tot.Failing)
	require.Contains(t, tot.LastError, "connection refused")
}

func TestRunnerStopBeforeStartAndTwice(t *testing.T) {
	t.Parallel()
	b, dead := openBus(t)
	p := &picky{batching: Batching{MaxRows: 5, MaxWait: time.Second}, rows: map[string]int{}}
	r, err := NewRunner(b.JetStream(), RunnerConfig{Name: "x", Spec: &config.Sink{Types: []string{"a.b"}, Start: "new"}, Sink: p, DeadLetters: dead})
	require.NoError(t, err)
	require.NoError(t, r.Stop(t.Context()))
	require.ErrorIs(t, r.Start(t.Context()), ErrStarted)
	require.NoError(t, r.Stop(t.Context()))
}

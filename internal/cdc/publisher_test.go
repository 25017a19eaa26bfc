package cdc

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/weirtest"
)

// setup opens an embedded bus and the weir-cdc bucket.
func setup(t testing.TB) (*bus.Bus, jetstream.KeyValue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{StoreDir: t.TempDir(), Name: "cdc-test", MaxAge: time.Hour, DedupeWindow: time.Hour}, weirtest.Logger(t))
	require.NoError(t, err)
	t.Cleanup(b.Close)
	kv, err := OpenBucket(ctx, b.JetStream(), 1)
	require.NoError(t, err)
	return b, kv
}

var orders = &Table{Schema: "public", Name: "orders", Columns: []Column{
	{Name: "id", Type: "int8", Key: true, NotNull: true},
	{Name: "note", Type: "text"},
}}

// change i of the test's log; every size-th change ends a transaction.
func change(i, size int, at time.Time) *Change {
	after, _ := json.Marshal(map[string]any{"id": i, "note": "n"})
	return &Change{
		ID: fmt.Sprintf("slot:%d", i), Table: orders, Key: []any{int64(i)},
		Value:    Value{After: after, Op: OpCreate, Source: Source{Connector: "postgresql", Name: "shop", Table: "orders", Schema: "public"}},
		Time:     at,
		EndOfTx:  (i+1)%size == 0,
		Position: i,
	}
}

// stored reads every event on the bus, in stream order.
func stored(t testing.TB, b *bus.Bus) []event.Event {
	t.Helper()
	ctx := context.Background()
	info, err := b.Events().Info(ctx)
	require.NoError(t, err)
	var out []event.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := b.Events().GetMsg(ctx, seq)
		require.NoError(t, err)
		ev, err := event.Decode(m.Data)
		require.NoError(t, err)
		out = append(out, ev)
	}
	return out
}

func storedCount(b *bus.Bus) uint64 {
	info, err := b.Events().Info(context.Background())
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// confirms records Confirm calls and checks each against the bus.
type confirms struct {
	mu    sync.Mutex
	got   []int
	early []string
	b     *bus.Bus
}

func (c *confirms) confirm(pos any) {
	i := pos.(int)
	// Every change up to i must be on the bus already.
	if n := storedCount(c.b); n < uint64(i+1) {
		c.mu.Lock()
		c.early = append(c.early, fmt.Sprintf("confirm %d with %d stored", i, n))
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.got = append(c.got, i)
	c.mu.Unlock()
}

func (c *confirms) last() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.got) == 0 {
		return -1
	}
	return c.got[len(c.got)-1]
}

func TestPublisherKeepsOrderAndConfirmsWholeTransactions(t *testing.T) {
	t.Parallel()
	b, kv := setup(t)
	ctx := context.Background()
	rec := &confirms{b: b}
	p := NewPublisher(b, PublisherConfig{Name: "shop", KV: kv, Confirm: rec.confirm, MaxPending: 64, Log: weirtest.Logger(t)})
	require.NoError(t, p.Start(ctx))
	const n, size = 1000, 7
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		require.NoError(t, p.Emit(ctx, change(i, size, at.Add(time.Duration(i)*time.Millisecond))))
	}
	lastEnd := (n/size)*size - 1
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return rec.last() == lastEnd }, "the last whole transaction is confirmed")
	require.NoError(t, p.Stop(ctx))

	evs := stored(t, b)
	require.Len(t, evs, n)
	for i, ev := range evs {
		require.Equal(t, fmt.Sprintf("slot:%d", i), ev.ID, "the bus holds the changes in order")
	}
	ev := evs[3]
	require.Equal(t, "db.public.orders", ev.Type)
	require.Equal(t, "/cdc/shop", ev.Source)
	require.Equal(t, "3", ev.Subject)
	require.Equal(t, "orders:3", ev.Extensions["partitionkey"])
	require.Equal(t, "application/json", ev.DataContentType)
	require.True(t, ev.Time.Equal(at.Add(3*time.Millisecond)))
	require.NoError(t, ev.Validate())

	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Empty(t, rec.early, "Confirm came before the bus stored the transaction")
	prev := -1
	for _, c := range rec.got {
		require.Equal(t, size-1, c%size, "only ends of transactions are confirmed")
		require.Greater(t, c, prev, "confirms move forward")
		prev = c
	}
}

func TestPublisherReEmissionAfterACrashIsNotDuplicated(t *testing.T) {
	t.Parallel()
	b, kv := setup(t)
	ctx := context.Background()
	at := time.Now().UTC()
	first := NewPublisher(b, PublisherConfig{Name: "shop", KV: kv})
	// The stream's own window has passed in this test: only the long
	// window can tell a change published before.
	first.streamDedupe = false
	require.NoError(t, first.Start(ctx))
	for i := range 20 {
		require.NoError(t, first.Emit(ctx, change(i, 5, at)))
	}
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return first.Pending() == 0 }, "every change acked")
	// A crash: the reader never saw Confirm; the process is gone. (The
	// publisher's goroutine is stopped without anything else.)
	require.NoError(t, first.life.Stop(ctx))

	again := NewPublisher(b, PublisherConfig{Name: "shop", KV: kv})
	again.streamDedupe = false
	require.NoError(t, again.Start(ctx))
	for i := range 30 { // the same 20, then 10 new ones
		require.NoError(t, again.Emit(ctx, change(i, 5, at.Add(time.Duration(i/20)*time.Hour))))
	}
	require.NoError(t, again.Stop(ctx))
	evs := stored(t, b)
	require.Len(t, evs, 30, "each change once")
	for i, ev := range evs {
		require.Equal(t, fmt.Sprintf("slot:%d", i), ev.ID)
	}
}

// txChange is change i with its transaction named, as readers name them:
// transactions of size changes, the crash coming part way into one.
func txChange(i, size int, at time.Time) *Change {
	c := change(i, size, at)
	c.Tx, c.TxIndex = fmt.Sprintf("slot:tx%d", i/size), i%size
	return c
}

func TestPublisherTransactionRecordsAfterACrash(t *testing.T) {
	t.Parallel()
	const size = 10
	for _, tc := range []struct {
		name          string
		first, second func(i, size int, at time.Time) *Change
	}{
		{"records per transaction", txChange, txChange},
		// Records an earlier version kept per change still count.
		{"records per change, then per transaction", change, txChange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, kv := setup(t)
			ctx := context.Background()
			at := time.Now().UTC()
			first := NewPublisher(b, PublisherConfig{Name: "shop", KV: kv})
			first.streamDedupe = false // the stream's own window has passed
			require.NoError(t, first.Start(ctx))
			// Two whole transactions and 4 changes of the third.
			for i := range 2*size + 4 {
				require.NoError(t, first.Emit(ctx, tc.first(i, size, at)))
			}
			weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return first.Pending() == 0 }, "every change acked")
			// The crash: the acker's records are written before it waits, so
			// they are in the store; nothing is confirmed.
			weirtest.EventuallyTrue(t, 10*time.Second, func() bool {
				_, _, found, _ := b.Recall(ctx, DedupeKey("shop", "slot:23"))
				if tc.first(23, size, at).Tx != "" {
					v, _, ok, _ := b.Recall(ctx, txKey("shop", "slot:tx2"))
					found = ok && string(v) == "3"
				}
				return found
			}, "the last change's record is written")
			require.NoError(t, first.life.Stop(ctx))

			again := NewPublisher(b, PublisherConfig{Name: "shop", KV: kv})
			again.streamDedupe = false
			require.NoError(t, again.Start(ctx))
			// The reader reads every transaction again from its start, then
			// new ones.
			for i := range 5 * size {
				require.NoError(t, again.Emit(ctx, tc.second(i, size, at.Add(time.Duration(i/(3*size))*time.Hour))))
			}
			require.NoError(t, again.Stop(ctx))
			evs := stored(t, b)
			require.Len(t, evs, 5*size, "each change once")
			for i, ev := range evs {
				require.Equal(t, fmt.Sprintf("slot:%d", i), ev.ID)
			}
		})
	}
}

func TestPublisherWithoutAMarkWouldDuplicate(t *testing.T) {
	t.Parallel()
	// The control of the test above: with the bucket's mark gone, the
	// second publisher cannot know the changes were published.
	b, _ := setup(t)
	ctx := context.Background()
	at := time.Now().UTC()
	for range 2 {
		p := NewPublisher(b, PublisherConfig{Name: "shop"})
		p.streamDedupe = false
		require.NoError(t, p.Start(ctx))
		for i := range 5 {
			require.NoError(t, p.Emit(ctx, change(i, 5, at)))
		}
		require.NoError(t, p.Stop(ctx))
	}
	// Without a bucket no mark is saved, so nothing is looked up.
	require.Len(t, stored(t, b), 10)
}

func TestPublisherEmitBlocksWhenFull(t *testing.T) {
	t.Parallel()
	b, kv := setup(t)
	ctx := context.Background()
	p := NewPublisher(b, PublisherConfig{Name: "shop", KV: kv, MaxPending: 3, AckTimeout: 50 * time.Millisecond})
	require.NoError(t, p.Start(ctx))
	at := time.Now().UTC()
	require.NoError(t, p.Emit(ctx, change(0, 1, at)))
	// The first change is stored (and the published-up-to mark saved) before
	// the bus goes away; nothing after it is acked.
	weirtest.EventuallyTrue(t, 5*time.Second, func() bool { return p.Pending() == 0 }, "the first change is stored")
	b.Embedded().Shutdown()
	for i := 1; i < 4; i++ {
		require.NoError(t, p.Emit(ctx, change(i, 1, at)))
	}
	weirtest.EventuallyTrue(t, 5*time.Second, func() bool { return p.Pending() == 3 }, "three changes wait")
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.Emit(short, change(4, 1, at)), context.DeadlineExceeded, "a fourth change waits for room")
	require.Equal(t, 3, p.Pending())
	stop, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	_ = p.Stop(stop)
}

func TestPublisherRefusesABadChange(t *testing.T) {
	t.Parallel()
	p := NewPublisher(nil, PublisherConfig{Name: "shop"})
	require.ErrorIs(t, p.Emit(context.Background(), &Change{Table: orders}), ErrBadChange)
	bad := &Table{Schema: "public", Name: "order lines"}
	require.ErrorIs(t, p.Emit(context.Background(), &Change{ID: "x", Table: bad}), ErrBadChange)
	require.NoError(t, p.Stop(context.Background()), "stop before start")
	require.NoError(t, p.Stop(context.Background()), "stop twice")
}

func BenchmarkPublisher(b *testing.B) {
	bs, kv := setup(b)
	ctx := context.Background()
	var last sync.WaitGroup
	last.Add(1)
	n := b.N
	p := NewPublisher(bs, PublisherConfig{Name: "bench", KV: kv, Confirm: func(pos any) {
		if pos.(int) == n-1 {
			last.Done()
		}
	}})
	require.NoError(b, p.Start(ctx))
	at := time.Now().UTC()
	b.ResetTimer()
	for i := range n {
		c := change(i, 1, at)
		if err := p.Emit(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	last.Wait()
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "changes/s")
	require.NoError(b, p.Stop(ctx))
}

package traffic_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/ingress"
	"github.com/weir-dev/weir/internal/traffic"
)

// Counters is what ingress and delivery report to.
var (
	_ ingress.Observer  = (*traffic.Counters)(nil)
	_ delivery.Observer = (*traffic.Counters)(nil)
)

// clock is a hand-moved clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func setup(t *testing.T, o traffic.Options) (*traffic.Counters, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 7, 10, 0, 30, 0, time.UTC)}
	o.Now = c.now
	return traffic.New(o), c
}

func TestCountsMoveWithTheMinute(t *testing.T) {
	t.Parallel()
	tc, clk := setup(t, traffic.Options{})
	tc.Accepted("order.created", "/sources/shop")
	tc.Accepted("order.created", "/sources/shop")
	clk.add(time.Minute)
	tc.Accepted("order.created", "/sources/shop")

	s, ok := tc.Get(traffic.Types, "order.created")
	require.True(t, ok)
	require.Len(t, s.PerMinute, traffic.Minutes)
	require.Equal(t, []uint64{2, 1}, s.PerMinute[58:], "the last two minutes, oldest first")
	require.EqualValues(t, 3, s.LastHour)
	require.EqualValues(t, 3, s.Total)
	require.Equal(t, clk.now(), s.LastCounted)

	// 59 minutes later the first minute has left the hour, the second not yet.
	clk.add(59 * time.Minute)
	s, _ = tc.Get(traffic.Types, "order.created")
	require.EqualValues(t, 1, s.LastHour)
	require.EqualValues(t, 1, s.PerMinute[0])
	// A bucket reused an hour later starts from zero, not from its old count.
	tc.Accepted("order.created", "/sources/shop")
	s, _ = tc.Get(traffic.Types, "order.created")
	require.EqualValues(t, 2, s.LastHour)
	require.EqualValues(t, 1, s.PerMinute[59])
	require.EqualValues(t, 4, s.Total, "the total counts since start, not the hour")

	clk.add(2 * time.Hour)
	s, _ = tc.Get(traffic.Types, "order.created")
	require.Zero(t, s.LastHour)
	src, ok := tc.Get(traffic.Sources, "/sources/shop")
	require.True(t, ok)
	require.EqualValues(t, 4, src.Total)
}

func TestCardinalityBoundFoldsIntoOther(t *testing.T) {
	t.Parallel()
	tc, _ := setup(t, traffic.Options{MaxTypes: 3, MaxSources: 2})
	for i := range 10 {
		tc.Accepted(fmt.Sprintf("t.n%d", i), fmt.Sprintf("/s/%d", i))
	}
	tc.Accepted("t.n0", "/s/0") // a key kept before the bound stays its own
	types := tc.Top(traffic.Types, 0)
	require.Len(t, types, 4, "three types and (other)")
	byKey := map[string]uint64{}
	for _, s := range types {
		byKey[s.Key] = s.Total
	}
	require.Equal(t, map[string]uint64{"t.n0": 2, "t.n1": 1, "t.n2": 1, traffic.Other: 7}, byKey)
	require.Len(t, tc.Top(traffic.Sources, 0), 3, "two sources and (other)")
	_, ok := tc.Get(traffic.Types, "t.n9")
	require.False(t, ok, "a type past the bound has no series of its own")
	require.EqualValues(t, 11, tc.Totals().Accepted)
}

func TestTopAndTotals(t *testing.T) {
	t.Parallel()
	tc, clk := setup(t, traffic.Options{})
	for range 3 {
		tc.Accepted("b.busy", "/s")
	}
	tc.Accepted("a.quiet", "/s")
	tc.Accepted("c.quiet", "/s")
	tc.Delivered(delivery.OutcomeDelivered)
	tc.Delivered(delivery.OutcomeDelivered)
	tc.Delivered(delivery.OutcomeFailed)
	tc.Delivered(delivery.OutcomeDeadLettered)

	top := tc.Top(traffic.Types, 2)
	require.Equal(t, "b.busy", top[0].Key)
	require.Equal(t, "a.quiet", top[1].Key, "ties go by key")
	tot := tc.Totals()
	require.EqualValues(t, 5, tot.Accepted)
	require.Equal(t, map[string]uint64{"delivered": 2, "failed": 1, "dead_lettered": 1}, tot.Deliveries)

	snap := tc.Snapshot()
	require.Len(t, snap.Types, 3)
	require.Len(t, snap.Outcomes, 3)
	require.Equal(t, "delivered", snap.Outcomes[0].Key)
	require.Equal(t, clk.now(), snap.At)
	require.False(t, snap.Since.After(snap.At))
}

func TestConcurrentCounting(t *testing.T) {
	t.Parallel()
	tc, _ := setup(t, traffic.Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 500 {
				tc.Accepted(fmt.Sprintf("t.g%d", g), "/s")
				tc.Delivered("delivered")
				_ = tc.Top(traffic.Types, 3)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 4000, tc.Totals().Accepted)
	require.EqualValues(t, 4000, tc.Totals().Deliveries["delivered"])
}

func TestLastSeenWithoutBusIsLocal(t *testing.T) {
	t.Parallel()
	tc, clk := setup(t, traffic.Options{})
	tc.Accepted("order.created", "/s")
	seen, err := tc.LastSeen(t.Context(), []string{"order.created", "never.seen"})
	require.NoError(t, err)
	require.Equal(t, map[string]time.Time{"order.created": clk.now()}, seen)
}

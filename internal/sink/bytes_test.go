package sink

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// sizes records the bytes of each batch written.
type sizes struct {
	picky
	smu     sync.Mutex
	batches []int
	largest int
}

func (s *sizes) Write(ctx context.Context, batch []Record) error {
	n := 0
	s.smu.Lock()
	for _, r := range batch {
		n += len(r.Raw)
		s.largest = max(s.largest, len(r.Raw))
	}
	s.batches = append(s.batches, n)
	s.smu.Unlock()
	return s.picky.Write(ctx, batch)
}

// TestRunnerBoundsTheBytesOfABatch: a batch ends once its events reach
// MaxBytes, passing it by one event at most, whatever MaxRows allows; no
// event is lost or written twice on the way.
func TestRunnerBoundsTheBytesOfABatch(t *testing.T) {
	t.Parallel()
	b, dead := openBus(t)
	const events = 200
	for i := range events {
		// Events of different sizes, so that the next one sometimes does
		// not fit in what a batch has left.
		publishData(t, b, "order.created", fmt.Sprintf("o-%d", i), fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 100+(i%7)*300)))
	}
	const budget = 8 << 10
	s := &sizes{picky: picky{batching: Batching{MaxRows: 1000, MaxWait: 300 * time.Millisecond, MaxBytes: budget}, rows: map[string]int{}}}
	startRunner(t, b, dead, &config.Sink{Types: []string{"order.>"}, Start: "all"}, s)
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool { return len(s.stored()) == events }, "every event is stored")

	s.smu.Lock()
	defer s.smu.Unlock()
	total := 0
	for i, n := range s.batches {
		require.Less(t, n, budget+s.largest, "batch %d of %d bytes passes the budget by more than one event", i, n)
		total += n
	}
	require.Greater(t, len(s.batches), total/(budget+s.largest), "batches end on their bytes")
	for id, n := range s.stored() {
		require.Equal(t, 1, n, id)
	}
}

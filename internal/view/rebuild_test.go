package view

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// TestRebuildUnderLoadLosesNoUpdate rebuilds a view while events keep
// coming and reads keep going: no read fails, and afterwards every key holds
// its newest event.
func TestRebuildUnderLoadLosesNoUpdate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const keys = 100
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	newest := make([]int, keys)
	for i := range keys {
		publish(t, b, fmt.Sprint(i, "-0"), "order.created", t0, map[string]any{"id": fmt.Sprint("k", i), "status": "v0"})
	}
	m := startViews(t, b, orders)
	caughtUp(t, m, "orders")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readErrs atomic.Int64
	var lastErr atomic.Value
	wg.Add(2)
	go func() { // publishes updates: version v per key, later time each round
		defer wg.Done()
		for v := 1; ; v++ {
			for i := range keys {
				select {
				case <-stop:
					return
				default:
				}
				publish(t, b, fmt.Sprint(i, "-", v), "order.updated", t0.Add(time.Duration(v)*time.Second), map[string]any{"id": fmt.Sprint("k", i), "status": fmt.Sprint("v", v)})
				newest[i] = v
			}
		}
	}()
	go func() { // reads all the while
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := m.Get(t.Context(), "orders", fmt.Sprint("k", n%keys)); err != nil {
				readErrs.Add(1)
				lastErr.Store(err)
			}
			if _, _, err := m.Page(t.Context(), "orders", "", "", 10); err != nil {
				readErrs.Add(1)
				lastErr.Store(err)
			}
		}
	}()

	st, err := m.Rebuild(t.Context(), "orders")
	require.NoError(t, err)
	require.Equal(t, uint64(1), st.Generation)
	require.Greater(t, st.Rebuilding, uint64(1), "a new generation number, never one used before")
	_, err = m.Rebuild(t.Context(), "orders")
	require.ErrorIs(t, err, ErrRebuilding)
	weirtest.Eventually(t, 60*time.Second, func() error {
		i, _ := m.Info("orders")
		if i.Generation != st.Rebuilding || i.Rebuilding != nil {
			return fmt.Errorf("not swapped: %+v", i)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	require.Zero(t, readErrs.Load(), "reads failed during the rebuild: %v", lastErr.Load())

	weirtest.Eventually(t, 60*time.Second, func() error {
		for i := range keys {
			raw, err := m.Get(t.Context(), "orders", fmt.Sprint("k", i))
			if err != nil {
				return err
			}
			var it Item
			if err := json.Unmarshal(raw, &it); err != nil {
				return err
			}
			if want := fmt.Sprintf(`"v%d"`, newest[i]); string(it.Fields["status"]) != want {
				return fmt.Errorf("k%d is %s, want %s", i, it.Fields["status"], want)
			}
		}
		return nil
	})
	// The old generation is gone.
	_, err = b.JetStream().KeyValue(t.Context(), bucketName("orders", 1))
	require.Error(t, err)
	require.False(t, errors.Is(err, nil))
}

package delivery

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// TestGoneAttemptsInFlightAreRecorded publishes five events to a push
// subscription whose endpoint answers 410 to all of them, the first answer
// before the other four: that answer disables the subscription while the
// other four requests are in flight. All five attempts are recorded and
// counted as gone, and after resume each event shows attempt 1 gone, then
// attempt 2 delivered.
func TestGoneAttemptsInFlightAreRecorded(t *testing.T) {
	t.Parallel()
	var (
		arrived  atomic.Int64
		answered atomic.Int64
		gone     atomic.Bool // the endpoint answers 410, until the test resumes
		all      = make(chan struct{})
		allOnce  sync.Once
		sub      atomic.Pointer[Sub]
	)
	gone.Store(true)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !gone.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if arrived.Add(1) == 5 {
			allOnce.Do(func() { close(all) })
		}
		select { // every request in flight before the first answer
		case <-all:
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Second):
		}
		if answered.Add(1) > 1 {
			// The others answer once the first 410 has disabled the subscription.
			deadline := time.Now().Add(10 * time.Second)
			for s := sub.Load(); (s == nil || !s.disabled.Load()) && time.Now().Before(deadline); s = sub.Load() {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
			select { // and a moment after, as a slower app would
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		w.WriteHeader(http.StatusGone)
	}))
	defer app.Close()
	b, m := startManager(t, pushAllowed, slog.New(slog.DiscardHandler), nil)
	require.NoError(t, m.Create(t.Context(), "push", &config.Subscription{
		Types: []string{"order.created"},
		Push:  &config.Push{URL: app.URL, Secret: "whsec_dGVzdC1zdWJzY3JpcHRpb24tc2VjcmV0LTEyMzQ=", MaxInFlight: 8},
	}, false, Creator{Token: "admin", Trusted: true}))
	s, err := m.sub("push")
	require.NoError(t, err)
	sub.Store(s)
	ids := []string{"g1", "g2", "g3", "g4", "g5"}
	for _, id := range ids {
		publish(t, b, id)
	}

	goneCount := func() float64 {
		var v dto.Metric
		require.NoError(t, m.metrics.deliveries.WithLabelValues("push", OutcomeGone).Write(&v))
		return v.GetCounter().GetValue()
	}
	weirtest.Eventually(t, 20*time.Second, func() error {
		got, err := m.attempts.List(t.Context(), Query{Subscription: "push", Outcome: OutcomeGone})
		if err != nil {
			return err
		}
		if len(got) != 5 || goneCount() != 5 {
			return fmt.Errorf("%d gone attempts recorded, %v counted, want 5 and 5 (the endpoint answered %d)", len(got), goneCount(), answered.Load())
		}
		return nil
	})
	require.True(t, s.disabled.Load())
	require.Equal(t, int64(5), answered.Load(), "the endpoint saw five requests")

	gone.Store(false)
	require.NoError(t, m.SetState(t.Context(), "push", StateActive, ""))
	for _, id := range ids {
		weirtest.Eventually(t, 20*time.Second, func() error {
			got, err := m.attempts.List(t.Context(), Query{Subscription: "push", EventID: id})
			if err != nil {
				return err
			}
			var seen []string
			for _, a := range got {
				seen = append(seen, fmt.Sprintf("%d %s", a.Number, a.Outcome))
			}
			if !slices.Equal(seen, []string{"1 gone", "2 delivered"}) {
				return fmt.Errorf("event %s: attempts %q, want 1 gone, then 2 delivered", id, seen)
			}
			return nil
		})
	}
	require.Equal(t, float64(5), goneCount(), "no attempt counted twice")
}

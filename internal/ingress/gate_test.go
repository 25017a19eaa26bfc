package ingress

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGateShedsByPriorityAsPendingGrows(t *testing.T) {
	t.Parallel()
	g := NewGate(10, time.Hour)
	var held []func()
	admit := func(p Priority) bool {
		release, refused := g.Enter(p)
		if refused != nil {
			require.Equal(t, http.StatusServiceUnavailable, refused.Status)
			require.Positive(t, refused.RetryAfter)
			return false
		}
		held = append(held, release)
		return true
	}
	for range 4 {
		require.True(t, admit(PriorityEssential))
	}
	require.True(t, admit(PriorityLow), "it finds 4 of 10 pending")
	require.False(t, admit(PriorityLow), "it finds 5 of 10: pressure 0.5 sheds low")
	require.True(t, admit(PriorityNormal))
	require.True(t, admit(PriorityNormal))
	require.True(t, admit(PriorityNormal), "it finds 7 of 10")
	require.False(t, admit(PriorityNormal), "it finds 8 of 10: pressure 0.8 sheds normal")
	require.True(t, admit(PriorityEssential))
	require.True(t, admit(PriorityEssential), "essential events flow up to the bound")
	require.False(t, admit(PriorityEssential), "and not past it")
	n, _ := g.Load()
	require.EqualValues(t, 10, n)

	for _, release := range held {
		release()
	}
	n, pressure := g.Load()
	require.Zero(t, n)
	require.Zero(t, pressure)
	require.True(t, admit(PriorityLow), "an idle gate admits everyone")
}

func TestGateShedsWhenTheBusIsSlowAndForgetsWhenItIsNot(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	g := NewGate(1000, 100*time.Millisecond)
	g.now = func() time.Time { return now }

	for range 20 {
		g.Observe(90 * time.Millisecond) // 0.9 of slow_ack
	}
	_, pressure := g.Load()
	require.InDelta(t, 0.9, pressure, 0.02)
	_, refused := g.Enter(PriorityLow)
	require.NotNil(t, refused, "a slow bus sheds low first")
	require.Equal(t, 10*time.Second, refused.RetryAfter, "low sources are told to wait longest")
	_, refused = g.Enter(PriorityNormal)
	require.NotNil(t, refused)
	release, refused := g.Enter(PriorityEssential)
	require.Nil(t, refused, "essential events keep flowing while the bus still stores them")
	release()

	// No event reaches the bus for a while: the estimate decays and lets the
	// next one through to measure again.
	now = now.Add(ackHalfLife)
	_, pressure = g.Load()
	require.InDelta(t, 0.45, pressure, 0.02)
	release, refused = g.Enter(PriorityLow)
	require.Nil(t, refused)
	release()

	// Fast acks bring the pressure down.
	for range 30 {
		g.Observe(time.Millisecond)
	}
	_, pressure = g.Load()
	require.Less(t, pressure, 0.05)
}

// TestGatePressureIsAckTimeOverSlowAck: one sender whose acks take 600 ms
// gives a sample every 600 ms. While its store is in flight the pressure
// stays at the ack time over slow_ack (0.6), so low sources are shed and
// normal ones are not, at every moment and in that order.
func TestGatePressureIsAckTimeOverSlowAck(t *testing.T) {
	t.Parallel()
	for _, ack := range []time.Duration{600 * time.Millisecond, 700 * time.Millisecond, 1500 * time.Millisecond} {
		now := time.Unix(1_700_000_000, 0)
		g := NewGate(1000, time.Second)
		g.now = func() time.Time { return now }
		var done func()
		for range 40 { // converge: one store after another, a millisecond apart
			done = g.Publishing()
			now = now.Add(ack)
			done()
			now = now.Add(time.Millisecond)
		}
		done = g.Publishing()
		want := ack.Seconds()
		for _, after := range []time.Duration{0, ack / 4, ack / 2, ack * 3 / 4, ack - time.Millisecond} {
			now = now.Add(after)
			_, pressure := g.Load()
			require.InDelta(t, want, pressure, 0.02, "%s acks, %s after a sample", ack, after)
			_, lowRefused := g.Enter(PriorityLow)
			release, normalRefused := g.Enter(PriorityNormal)
			require.NotNil(t, lowRefused, "%s acks: low is shed from half of slow_ack", ack)
			if want < shedNormal {
				require.Nil(t, normalRefused, "%s acks: normal is not shed below 0.8", ack)
				release()
			} else {
				require.NotNil(t, normalRefused, "%s acks: normal is shed from 0.8", ack)
			}
			now = now.Add(-after)
		}
		done()
	}
}

func TestParsePriority(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"low", "normal", "essential"} {
		require.Equal(t, s, ParsePriority(s).String())
	}
	require.Equal(t, PriorityNormal, ParsePriority(""))
}

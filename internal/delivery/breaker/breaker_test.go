package breaker

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// openBreaker returns a breaker with threshold 3, cooldown 30s, max 2m, opened at t0.
func openBreaker(t *testing.T) *Breaker {
	t.Helper()
	b := New(3, 30*time.Second, 2*time.Minute)
	for range 3 {
		b.Failure(t0)
	}
	require.Equal(t, Open, b.Snapshot().State)
	return b
}

func TestBreakerDefaults(t *testing.T) {
	t.Parallel()
	b := New(0, 0, 0)
	for range 9 {
		b.Failure(t0)
	}
	require.Equal(t, Closed, b.Snapshot().State, "nine failures are not ten")
	b.Failure(t0)
	s := b.Snapshot()
	require.Equal(t, Open, s.State)
	require.Equal(t, 30*time.Second, s.Cooldown)

	require.Equal(t, 10*time.Minute, New(1, 0, 0).maxCooldown)
	require.Equal(t, time.Hour, New(1, time.Hour, time.Minute).maxCooldown, "max below cooldown is raised")
}

func TestBreakerOpensAfterThreshold(t *testing.T) {
	t.Parallel()
	b := New(3, 30*time.Second, 2*time.Minute)
	for i := range 2 {
		b.Failure(t0)
		ok, wait := b.Allow(t0)
		require.True(t, ok, "failure %d", i+1)
		require.Zero(t, wait)
	}
	b.Failure(t0)
	require.Equal(t, Snapshot{
		State:               Open,
		ConsecutiveFailures: 3,
		OpenedAt:            t0,
		NextProbeAt:         t0.Add(30 * time.Second),
		Cooldown:            30 * time.Second,
	}, b.Snapshot())
}

func TestBreakerWaitWhileOpen(t *testing.T) {
	t.Parallel()
	b := openBreaker(t)
	ok, wait := b.Allow(t0)
	require.False(t, ok)
	require.Equal(t, 30*time.Second, wait)
	ok, wait = b.Allow(t0.Add(20 * time.Second))
	require.False(t, ok)
	require.Equal(t, 10*time.Second, wait)

	b.Failure(t0.Add(25 * time.Second))
	_, wait = b.Allow(t0.Add(25 * time.Second))
	require.Equal(t, 5*time.Second, wait, "a straggler's failure while open does not extend the pause")
	require.Equal(t, 4, b.Snapshot().ConsecutiveFailures)
}

func TestBreakerOneProbe(t *testing.T) {
	t.Parallel()
	b := openBreaker(t)
	due := t0.Add(30 * time.Second)
	ok, _ := b.Allow(due)
	require.True(t, ok, "the first caller after the cooldown probes")
	require.Equal(t, HalfOpen, b.Snapshot().State)
	for range 3 {
		ok, wait := b.Allow(due.Add(time.Second))
		require.False(t, ok, "only one probe at a time")
		require.Equal(t, time.Second, wait)
	}
}

func TestBreakerOneProbeConcurrently(t *testing.T) {
	t.Parallel()
	b := openBreaker(t)
	due := t0.Add(30 * time.Second)
	var granted atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 200 {
		wg.Go(func() {
			<-start
			for range 50 {
				if ok, _ := b.Allow(due); ok {
					granted.Add(1)
				}
				_ = b.Snapshot()
			}
		})
	}
	close(start)
	wg.Wait()
	require.Equal(t, int32(1), granted.Load())
}

func TestBreakerProbeSuccessCloses(t *testing.T) {
	t.Parallel()
	b := openBreaker(t)
	due := t0.Add(30 * time.Second)
	ok, _ := b.Allow(due)
	require.True(t, ok)
	b.Success(due)
	require.Equal(t, Snapshot{State: Closed, Cooldown: 30 * time.Second}, b.Snapshot())
	ok, _ = b.Allow(due)
	require.True(t, ok)
}

func TestBreakerProbeFailureDoublesCooldown(t *testing.T) {
	t.Parallel()
	b := openBreaker(t)
	now := t0
	for _, want := range []time.Duration{60 * time.Second, 2 * time.Minute, 2 * time.Minute} {
		now = b.Snapshot().NextProbeAt
		ok, _ := b.Allow(now)
		require.True(t, ok)
		b.Failure(now)
		s := b.Snapshot()
		require.Equal(t, Open, s.State)
		require.Equal(t, want, s.Cooldown)
		require.Equal(t, now, s.OpenedAt)
		require.Equal(t, now.Add(want), s.NextProbeAt)
		ok, wait := b.Allow(now)
		require.False(t, ok)
		require.Equal(t, want, wait)
	}
	b.Success(now)
	require.Equal(t, 30*time.Second, b.Snapshot().Cooldown, "success restores the first cooldown")
}

func TestBreakerSuccessResetsCount(t *testing.T) {
	t.Parallel()
	b := New(3, time.Second, time.Minute)
	b.Failure(t0)
	b.Failure(t0)
	b.Success(t0)
	require.Zero(t, b.Snapshot().ConsecutiveFailures)
	b.Failure(t0)
	b.Failure(t0)
	require.Equal(t, Closed, b.Snapshot().State, "failures either side of a success are not consecutive")
	b.Failure(t0)
	require.Equal(t, Open, b.Snapshot().State)
}

func TestBreakerLostProbe(t *testing.T) {
	t.Parallel()
	b := openBreaker(t)
	due := t0.Add(30 * time.Second)
	ok, _ := b.Allow(due)
	require.True(t, ok)
	ok, wait := b.Allow(due.Add(probeLease - 300*time.Millisecond))
	require.False(t, ok)
	require.Equal(t, 300*time.Millisecond, wait, "never wait past the lease")
	ok, _ = b.Allow(due.Add(probeLease))
	require.True(t, ok, "a probe that never reported does not pause the endpoint forever")
	ok, _ = b.Allow(due.Add(probeLease))
	require.False(t, ok)
}

func TestBreakerOnChange(t *testing.T) {
	t.Parallel()
	b := New(1, time.Second, time.Minute)
	var got [][2]State
	b.SetOnChange(func(from, to State) { got = append(got, [2]State{from, to}) })
	b.Failure(t0)
	b.Allow(t0.Add(time.Second))
	b.Failure(t0.Add(time.Second))
	b.Allow(t0.Add(time.Hour))
	b.Success(t0.Add(time.Hour))
	b.Success(t0.Add(time.Hour))
	require.Equal(t, [][2]State{
		{Closed, Open},
		{Open, HalfOpen},
		{HalfOpen, Open},
		{Open, HalfOpen},
		{HalfOpen, Closed},
	}, got, "a success while closed is no transition")
}

func TestBreakerSnapshotJSON(t *testing.T) {
	t.Parallel()
	closed, err := json.Marshal(New(0, 0, 0).Snapshot())
	require.NoError(t, err)
	require.JSONEq(t, `{"state":"closed","consecutive_failures":0,"cooldown":"30s"}`, string(closed))

	s := openBreaker(t).Snapshot()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	require.JSONEq(t, `{"state":"open","consecutive_failures":3,"opened_at":"2026-03-01T12:00:00Z",
		"next_probe_at":"2026-03-01T12:00:30Z","cooldown":"30s"}`, string(b))

	var back Snapshot
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, s, back)
	require.Error(t, json.Unmarshal([]byte(`{"cooldown":"soon"}`), &back))
}

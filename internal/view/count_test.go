package view

import (
	"context"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

var perMinute = map[string]*config.View{"per-minute": {
	Kind: "count", Types: []string{"order.*"}, By: []string{"type", "/region"}, Sum: "/total",
}}

// TestCountPerMinuteByTypeAndPointer counts events per 1m bucket by type
// and by a pointer, adding up a sum.
func TestCountPerMinuteByTypeAndPointer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	// Minute 0: 3 created in eu (1+2+3), 1 paid in us (10); minute 1: 2 created in eu (4+5).
	publish(t, b, "1", "order.created", t0.Add(1*time.Second), map[string]any{"region": "eu", "total": 1})
	publish(t, b, "2", "order.created", t0.Add(20*time.Second), map[string]any{"region": "eu", "total": 2})
	publish(t, b, "3", "order.created", t0.Add(59*time.Second), map[string]any{"region": "eu", "total": 3})
	publish(t, b, "4", "order.paid", t0.Add(30*time.Second), map[string]any{"region": "us", "total": 10})
	publish(t, b, "5", "order.created", t0.Add(60*time.Second), map[string]any{"region": "eu", "total": 4})
	publish(t, b, "6", "order.created", t0.Add(119*time.Second), map[string]any{"region": "eu", "total": 5.5})
	publish(t, b, "7", "other.thing", t0, map[string]any{"region": "eu", "total": 100})
	m := startViews(t, b, perMinute)
	caughtUp(t, m, "per-minute")

	pts, next, err := m.Series(t.Context(), "per-minute", SeriesQuery{From: t0, To: t0.Add(3 * time.Minute)})
	require.NoError(t, err)
	require.Empty(t, next)
	got := map[string]Point{}
	for _, p := range pts {
		got[fmt.Sprintf("%s %s %s", p.Bucket.Format("15:04"), p.By["type"], p.By["region"])] = p
	}
	require.Len(t, got, 3)
	require.Equal(t, Point{Bucket: t0, By: map[string]string{"type": "order.created", "region": "eu"}, Count: 3, Sum: 6}, got["12:00 order.created eu"])
	require.Equal(t, int64(1), got["12:00 order.paid us"].Count)
	require.InDelta(t, 9.5, got["12:01 order.created eu"].Sum, 1e-9)

	pts, _, err = m.Series(t.Context(), "per-minute", SeriesQuery{From: t0, To: t0.Add(3 * time.Minute), By: map[string]string{"region": "us"}})
	require.NoError(t, err)
	require.Len(t, pts, 1)

	// Paging: one point per page still reaches all three.
	var all []Point
	cur := ""
	for range 10 {
		p, n, err := m.Series(t.Context(), "per-minute", SeriesQuery{From: t0, To: t0.Add(3 * time.Minute), Cursor: cur, Limit: 1})
		require.NoError(t, err)
		all = append(all, p...)
		if cur = n; cur == "" {
			break
		}
	}
	require.Len(t, all, 3)

	for _, q := range []SeriesQuery{
		{From: t0, To: t0},
		{From: t0, To: t0.Add(10001 * time.Minute)},
		{From: t0, To: t0.Add(time.Minute), By: map[string]string{"nope": "x"}},
	} {
		_, _, err := m.Series(t.Context(), "per-minute", q)
		require.Error(t, err)
	}
}

// TestCountExactAfterRestart stops the views midway through the history
// and starts them again: events applied but not yet saved as the position
// are read again, and counted once.
func TestCountExactAfterRestart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	const n = 3000
	for i := range n {
		publish(t, b, fmt.Sprint(i), "order.created", t0.Add(time.Duration(i)*100*time.Millisecond), map[string]any{"region": []string{"eu", "us"}[i%2], "total": 1})
	}
	metrics := NewMetrics(nil)
	first, err := New(b.JetStream(), Config{Views: perMinute, Replicas: 1}, metrics, weirtest.Logger(t))
	require.NoError(t, err)
	require.NoError(t, first.Start(t.Context()))
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool {
		return applied(metrics, "per-minute") >= 700
	}, "the first run applies some events")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, first.Stop(ctx))
	stoppedAt := applied(metrics, "per-minute")
	require.Less(t, stoppedAt, float64(n), "stopped midway")

	second := startViews(t, b, perMinute)
	caughtUp(t, second, "per-minute")
	pts, _, err := second.Series(t.Context(), "per-minute", SeriesQuery{From: t0, To: t0.Add(time.Hour)})
	require.NoError(t, err)
	var total int64
	var sum float64
	for _, p := range pts {
		total += p.Count
		sum += p.Sum
		require.Equal(t, int64(300), p.Count, "600 events per minute, half per region: %+v", p)
	}
	require.Equal(t, int64(n), total)
	require.InDelta(t, float64(n), sum, 1e-9)
}

// applied reads weir_view_applied_total{view}.
func applied(m *Metrics, view string) float64 {
	var out dto.Metric
	_ = m.applied.WithLabelValues(view).Write(&out)
	return out.GetCounter().GetValue()
}

package backoff

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func fixed(r float64) func() float64 { return func() float64 { return r } }

// almostOne is the largest float64 below 1, the most rand.Float64 can return.
var almostOne = math.Nextafter(1, 0)

func TestBackoffDefaultSchedule(t *testing.T) {
	t.Parallel()
	b := Policy{Initial: 5 * time.Second, Max: 6 * time.Hour}
	s := func(d string) time.Duration {
		v, err := time.ParseDuration(d)
		require.NoError(t, err)
		return v
	}
	want := []time.Duration{
		s("5s"), s("10s"), s("20s"), s("40s"), s("1m20s"), s("2m40s"),
		s("5m20s"), s("10m40s"), s("21m20s"), s("42m40s"), s("1h25m20s"),
	}
	require.Equal(t, want, b.Schedule(12), "12 attempts have 11 waits between them")
	require.Equal(t, want, Policy{}.Schedule(12), "the zero value is the default schedule")
}

func TestBackoffScheduleCapsAtMax(t *testing.T) {
	t.Parallel()
	got := Policy{}.Schedule(16)
	require.Equal(t, 2*time.Hour+50*time.Minute+40*time.Second, got[11])
	require.Equal(t, 5*time.Hour+41*time.Minute+20*time.Second, got[12])
	require.Equal(t, 6*time.Hour, got[13])
	require.Equal(t, 6*time.Hour, got[14])
}

func TestBackoffScheduleBounds(t *testing.T) {
	t.Parallel()
	require.Nil(t, Policy{}.Schedule(1), "one attempt has nothing to wait for")
	require.Nil(t, Policy{}.Schedule(0))
	require.Nil(t, Policy{}.Schedule(math.MinInt))
	require.Len(t, Policy{}.Schedule(math.MaxInt), 1000)
}

func TestBackoffJitterBounds(t *testing.T) {
	t.Parallel()
	b := Policy{Initial: 10 * time.Second, Max: time.Hour}
	require.Equal(t, 8*time.Second, b.Delay(1, fixed(0)), "rnd=0 is the low end, d*(1-0.2)")
	require.InDelta(t, float64(12*time.Second), float64(b.Delay(1, fixed(almostOne))), float64(time.Microsecond),
		"rnd near 1 is the high end, d*(1+0.2)")
	require.Equal(t, 10*time.Second, b.Delay(1, fixed(0.5)))
	require.Equal(t, 16*time.Second, b.Delay(2, fixed(0)))

	for range 1000 {
		d := b.Delay(3, nil)
		require.GreaterOrEqual(t, d, 32*time.Second)
		require.LessOrEqual(t, d, 48*time.Second)
	}
}

func TestBackoffMaxIsACeiling(t *testing.T) {
	t.Parallel()
	b := Policy{Initial: time.Minute, Max: 10 * time.Minute}
	require.Equal(t, 10*time.Minute, b.Delay(20, fixed(almostOne)), "jitter never goes above Max")
	require.Equal(t, 8*time.Minute, b.Delay(20, fixed(0)), "at the cap the spread is [Max*(1-J), Max]")
	require.Equal(t, 9*time.Minute, b.Delay(20, fixed(0.5)))

	// The nominal 8m sits below a 9m cap, but 8m*1.2 would not: the spread is [6m24s, 9m].
	b.Max = 9 * time.Minute
	require.InDelta(t, float64(9*time.Minute), float64(b.Delay(4, fixed(almostOne))), float64(time.Microsecond))
	require.LessOrEqual(t, b.Delay(4, fixed(almostOne)), 9*time.Minute)
	require.Equal(t, 6*time.Minute+24*time.Second, b.Delay(4, fixed(0)))
	require.Equal(t, 9*time.Minute, b.Delay(4, fixed(2)), "a broken rnd above 1 still stops at Max")
}

func TestBackoffHugeAttempts(t *testing.T) {
	t.Parallel()
	for _, b := range []Policy{
		{},
		{Initial: 1, Max: math.MaxInt64},
		{Initial: time.Second, Max: math.MaxInt64, Jitter: 1},
		{Initial: math.MaxInt64, Max: math.MaxInt64},
	} {
		b = b.WithDefaults()
		for _, attempt := range []int{62, 63, 64, 65, 1000, math.MaxInt} {
			for _, r := range []float64{0, 0.5, almostOne} {
				d := b.Delay(attempt, fixed(r))
				if b.Jitter < 1 {
					require.Positive(t, d, "%+v attempt %d", b, attempt)
				}
				require.GreaterOrEqual(t, d, time.Duration(0), "%+v attempt %d", b, attempt)
				require.LessOrEqual(t, d, b.Max, "%+v attempt %d", b, attempt)
			}
		}
	}
}

func TestBackoffOddInputs(t *testing.T) {
	t.Parallel()
	exact := Policy{Initial: time.Second, Max: time.Minute, Jitter: -1}
	require.Equal(t, time.Second, exact.Delay(0, fixed(0)), "attempt 0 counts as 1")
	require.Equal(t, time.Second, exact.Delay(-5, fixed(0)))
	require.Equal(t, 4*time.Second, exact.Delay(3, fixed(almostOne)), "negative jitter means none")

	b := Policy{Initial: 10 * time.Second, Max: time.Minute}
	require.Equal(t, 8*time.Second, b.Delay(1, fixed(math.NaN())), "a broken rnd counts as 0")
	require.Equal(t, 12*time.Second, b.Delay(1, fixed(7)), "and above 1 as 1")

	inverted := Policy{Initial: time.Hour, Max: time.Minute, Jitter: -1}
	require.Equal(t, time.Minute, inverted.Delay(1, nil), "Max caps Initial too")

	require.Equal(t, 1.0, Policy{Jitter: 3}.WithDefaults().Jitter)
	require.Equal(t, 0.0, Policy{Jitter: math.NaN()}.WithDefaults().Jitter)
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{" 30 ", 30 * time.Second, true},
		{"0", 0, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Sunday, 01-Mar-26 12:05:00 GMT", 5 * time.Minute, true}, // RFC 850
		{"Sun Mar  1 12:00:10 2026", 10 * time.Second, true},      // ANSI C
		{now.Add(72 * time.Hour).Format(http.TimeFormat), 24 * time.Hour, true},
		{"86400", 24 * time.Hour, true},
		{"86401", 24 * time.Hour, true},
		{"99999999999999999999999999999", 24 * time.Hour, true},
		{"Fri, 31 Dec 9999 23:59:59 GMT", 24 * time.Hour, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, false},
		{"-5", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
		{"   ", 0, false},
		{"soon", 0, false},
		{"5s", 0, false},
		{"Mon, 99 Foo 2026 12:00:00 GMT", 0, false},
	}
	for _, c := range cases {
		got, ok := RetryAfter(c.in, now)
		require.Equal(t, c.ok, ok, "%q", c.in)
		require.Equal(t, c.want, got, "%q", c.in)
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "-1", "", "Sun, 01 Mar 2026 12:00:00 GMT", "99999999999999999999", "1e9", "Sun Mar  1 12:00:10 2026"} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, v string, unix int64) {
		d, ok := RetryAfter(v, time.Unix(unix, 0))
		if d < 0 || d > MaxRetryAfter {
			t.Fatalf("RetryAfter(%q) = %v, outside [0, 24h]", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("RetryAfter(%q) = %v with ok=false", v, d)
		}
	})
}

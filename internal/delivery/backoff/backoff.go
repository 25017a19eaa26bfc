// Package backoff is the retry schedule of a push subscription: exponential
// delays with jitter under a hard ceiling (Policy), and the receiver's own
// hint, a Retry-After header (RetryAfter).
package backoff

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Defaults of Policy, the same as a push subscription's retry defaults in weir.yaml.
const (
	// DefaultInitial is the first wait: long enough for a receiver that
	// is restarting to come back.
	DefaultInitial = 5 * time.Second
	// DefaultMax is the longest wait, so that an endpoint fixed in the
	// morning gets its events before the afternoon.
	DefaultMax = 6 * time.Hour
	// DefaultJitter spreads retries by ±20%, enough to break up the herd
	// of events that failed together in one outage.
	DefaultJitter = 0.2
)

// MaxRetryAfter caps what a receiver may ask for with Retry-After: beyond a day
// the header is more likely a mistake than a plan, and an event that waits longer
// risks outliving the stream that holds it.
const MaxRetryAfter = 24 * time.Hour

// maxSchedule bounds the list Schedule returns, so that a bad argument cannot
// allocate without limit. A doubling from 1ns reaches any Max within 63 steps, so
// longer lists would only repeat Max.
const maxSchedule = 1000

// Policy is the retry schedule of a push subscription: exponential from Initial,
// doubling, capped at Max, with jitter. The zero value is the default schedule.
//
// With d the nominal delay (Initial doubled once per earlier failure, at most
// Max), Delay is spread uniformly over [d·(1−Jitter), min(d·(1+Jitter), Max)].
// Max is thus a hard ceiling, which is what an operator who writes "max: 6h"
// expects; and endpoints that have all reached the cap still spread over the
// lower part of it instead of retrying in lockstep after a shared outage.
type Policy struct {
	// Initial is the nominal delay after the first failed attempt. Zero or
	// negative means DefaultInitial.
	Initial time.Duration
	// Max caps every delay, jitter included. Zero or negative means
	// DefaultMax; a Max below Initial caps Initial too.
	Max time.Duration
	// Jitter is the fraction by which a delay is spread around its nominal
	// value. Zero means DefaultJitter, a negative value means no jitter
	// (for tests and for schedules that must be exact), and values above 1 count
	// as 1.
	Jitter float64
}

// WithDefaults returns b with its unset fields filled and Jitter within [0, 1].
func (b Policy) WithDefaults() Policy {
	if b.Initial <= 0 {
		b.Initial = DefaultInitial
	}
	if b.Max <= 0 {
		b.Max = DefaultMax
	}
	switch {
	case b.Jitter == 0:
		b.Jitter = DefaultJitter
	case b.Jitter < 0 || b.Jitter != b.Jitter: // NaN means no usable spread
		b.Jitter = 0
	case b.Jitter > 1:
		b.Jitter = 1
	}
	return b
}

// Delay is the wait after failed attempt number attempt (1-based) before the
// next attempt. rnd returns a float in [0,1): pass rand.Float64, or a fixed
// function in tests; nil means math/rand/v2's Float64. Attempts below 1 count as 1.
func (b Policy) Delay(attempt int, rnd func() float64) time.Duration {
	b = b.WithDefaults()
	d := b.nominal(attempt)
	if b.Jitter == 0 {
		return d
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	r := rnd()
	if !(r >= 0) { // also catches NaN
		r = 0
	}
	r = min(r, 1)
	// Floats because d·(1+Jitter) can exceed the range of time.Duration when
	// Max is near it; the result is compared with Max before converting back.
	lo := float64(d) * (1 - b.Jitter)
	hi := min(float64(d)*(1+b.Jitter), float64(b.Max))
	v := lo + r*(hi-lo)
	if v >= float64(b.Max) {
		return b.Max
	}
	return time.Duration(v)
}

// nominal is the jitter-free delay after failed attempt number attempt, for b
// with defaults applied.
func (b Policy) nominal(attempt int) time.Duration {
	if b.Initial >= b.Max {
		return b.Max
	}
	shift := max(attempt, 1) - 1
	// Capping the exponent before shifting keeps huge attempt numbers from
	// overflowing into negative or zero delays.
	if shift >= 62 || b.Initial > b.Max>>shift {
		return b.Max
	}
	return b.Initial << shift
}

// Schedule lists the nominal (jitter-free) delays for maxAttempts attempts, for
// docs and the API: Schedule(n)[i] is the wait after attempt i+1 and before
// attempt i+2, so n attempts have n−1 waits. It lists at most 1000 waits.
func (b Policy) Schedule(maxAttempts int) []time.Duration {
	if maxAttempts <= 1 {
		return nil
	}
	n := min(maxAttempts-1, maxSchedule)
	b = b.WithDefaults()
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = b.nominal(i + 1)
	}
	return out
}

// RetryAfter parses an HTTP Retry-After header value, either delta-seconds or an
// HTTP-date taken relative to now (RFC 9110, section 10.2.3). ok is false when
// the value is absent, invalid, negative or a date already past: the receiver
// then gave no usable hint and the caller's own backoff applies. The result is
// capped at MaxRetryAfter.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		// Count digits instead of using strconv so that a huge number is still
		// a valid, capped request rather than a parse error.
		var secs int64
		for i := 0; i < len(v); i++ {
			secs = secs*10 + int64(v[i]-'0')
			if secs > int64(MaxRetryAfter/time.Second) {
				return MaxRetryAfter, true
			}
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now) // saturates instead of overflowing for far dates
	if d < 0 {
		return 0, false
	}
	return min(d, MaxRetryAfter), true
}

// isDigits reports whether s is non-empty and only ASCII digits; a sign is not
// part of delta-seconds.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

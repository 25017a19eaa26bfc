// Package breaker is the circuit breaker of one push endpoint: after a run of
// failures it pauses deliveries, then lets one probe through at a time, with a
// cooldown that doubles while the probes fail.
package breaker

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// State is where a Breaker stands: closed (deliver), open (pause) or
// half-open (one probe in flight).
type State string

// The states of a Breaker, as the API and metrics name them.
const (
	// Closed lets every delivery through; the endpoint is healthy.
	Closed State = "closed"
	// Open holds deliveries back until the cooldown has passed.
	Open State = "open"
	// HalfOpen lets exactly one probe through and waits for its result.
	HalfOpen State = "half-open"
)

// Defaults of New, matching a push subscription's breaker defaults in weir.yaml.
const (
	// DefaultThreshold is the number of consecutive failures that opens
	// the breaker: a few timeouts in a row are a bad minute, ten are an outage.
	DefaultThreshold = 10
	// DefaultCooldown is the pause before the first probe.
	DefaultCooldown = 30 * time.Second
	// DefaultMaxCooldown caps the doubling of the cooldown, so that an
	// endpoint that comes back is noticed within minutes.
	DefaultMaxCooldown = 10 * time.Minute
)

const (
	// probeLease is how long a granted probe may stay unreported before another
	// caller may probe. Without it, one probe whose worker stopped before
	// reporting would keep the endpoint paused forever.
	probeLease = time.Minute
	// probeWait is the wait handed to callers turned away while a probe is in
	// flight: its result usually arrives within one request timeout, and a short
	// wait lets the others follow soon after it succeeds.
	probeWait = time.Second
)

// Breaker is the circuit breaker of one push subscription's endpoint: an
// endpoint that keeps failing is paused and probed, not hammered. The zero value
// is not usable; call New. A Breaker is safe for concurrent use.
//
// Success and Failure do not say which delivery they report, so a delivery
// started before the breaker opened and finishing during a probe is taken as the
// probe's result. Either way it is fresh evidence about the endpoint.
type Breaker struct {
	threshold   int
	cooldown    time.Duration // the first cooldown, restored by Success
	maxCooldown time.Duration

	mu       sync.Mutex
	state    State
	failures int
	current  time.Duration // the cooldown of the present or next opening
	openedAt time.Time
	probeAt  time.Time // when a probe becomes allowed
	probing  bool      // a probe was granted and has not reported
	leaseEnd time.Time // when a silent probe is presumed lost
	onChange func(from, to State)
}

// New returns a closed breaker that opens after threshold consecutive
// failures and first probes after cooldown, doubling up to maxCooldown. Zero or
// negative arguments take the defaults (10, 30s, 10m); a maxCooldown below
// cooldown is raised to it.
func New(threshold int, cooldown, maxCooldown time.Duration) *Breaker {
	if threshold <= 0 {
		threshold = DefaultThreshold
	}
	if cooldown <= 0 {
		cooldown = DefaultCooldown
	}
	if maxCooldown <= 0 {
		maxCooldown = DefaultMaxCooldown
	}
	maxCooldown = max(maxCooldown, cooldown)
	return &Breaker{
		threshold:   threshold,
		cooldown:    cooldown,
		maxCooldown: maxCooldown,
		state:       Closed,
		current:     cooldown,
	}
}

// SetOnChange sets fn to be called on every transition, for metrics and logs.
// fn runs with the breaker locked, so that calls arrive in the order of the
// transitions; it must be quick and must not call the breaker's methods. nil
// removes it.
func (b *Breaker) SetOnChange(fn func(from, to State)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onChange = fn
}

// Allow says whether a delivery may be attempted now. Closed: yes. Open: no,
// and wait says how long until a probe is allowed. When the cooldown has
// passed, the breaker becomes half-open and Allow returns true for exactly one
// caller (the probe) until that probe reports Success or Failure; others get
// false with a short wait. A probe that has not reported within a minute is
// presumed lost and the next caller probes instead.
func (b *Breaker) Allow(now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Open:
		if now.Before(b.probeAt) {
			return false, b.probeAt.Sub(now)
		}
		b.setState(HalfOpen)
		b.grantProbe(now)
		return true, 0
	case HalfOpen:
		if !b.probing || !now.Before(b.leaseEnd) {
			b.grantProbe(now)
			return true, 0
		}
		return false, min(probeWait, b.leaseEnd.Sub(now))
	default:
		return true, 0
	}
}

// grantProbe hands the probe to the current caller; b.mu is held.
func (b *Breaker) grantProbe(now time.Time) {
	b.probing = true
	b.leaseEnd = now.Add(probeLease)
}

// Success reports a delivery the endpoint accepted: the breaker closes, and
// the failure count and the cooldown start over.
func (b *Breaker) Success(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures = 0
	b.current = b.cooldown
	b.probing = false
	b.openedAt = time.Time{}
	b.probeAt = time.Time{}
	b.setState(Closed)
}

// Failure reports a delivery the endpoint failed. Threshold consecutive
// failures open a closed breaker; a failed probe re-opens it with the cooldown
// doubled, up to the maximum. Failures of deliveries still in flight while the
// breaker is open are counted and change nothing else.
func (b *Breaker) Failure(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures < int(^uint(0)>>1) {
		b.failures++
	}
	switch b.state {
	case Closed:
		if b.failures >= b.threshold {
			b.open(now)
		}
	case HalfOpen:
		if b.current > b.maxCooldown/2 {
			b.current = b.maxCooldown
		} else {
			b.current *= 2
		}
		b.open(now)
	}
}

// open pauses the endpoint for the current cooldown; b.mu is held.
func (b *Breaker) open(now time.Time) {
	b.probing = false
	b.openedAt = now
	b.probeAt = now.Add(b.current)
	b.setState(Open)
}

// setState moves to state and tells the OnChange function; b.mu is held.
func (b *Breaker) setState(to State) {
	from := b.state
	if from == to {
		return
	}
	b.state = to
	if b.onChange != nil {
		b.onChange(from, to)
	}
}

// Snapshot describes the breaker for the API. The state is the one last
// recorded: an open breaker whose cooldown has passed reads open, with
// NextProbeAt in the past, until a caller asks Allow.
func (b *Breaker) Snapshot() Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Snapshot{
		State:               b.state,
		ConsecutiveFailures: b.failures,
		OpenedAt:            b.openedAt,
		NextProbeAt:         b.probeAt,
		Cooldown:            b.current,
	}
}

// Snapshot is a Breaker's state at one moment, as the API shows it.
type Snapshot struct {
	// State is closed, open or half-open.
	State State `json:"state"`
	// ConsecutiveFailures counts failures since the last success.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// OpenedAt is when the breaker last opened; zero (and left out of JSON)
	// while closed.
	OpenedAt time.Time `json:"opened_at,omitzero"`
	// NextProbeAt is when the pause ends and a probe may go; zero while closed.
	// While half-open it is the time the probe became due.
	NextProbeAt time.Time `json:"next_probe_at,omitzero"`
	// Cooldown is the pause of the present opening, or of the next one while
	// closed. JSON writes it the way weir.yaml does ("30s").
	Cooldown time.Duration `json:"cooldown"`
}

// snapshotJSON is Snapshot with the cooldown as text. The embedded
// field's own "cooldown" is shadowed by the shallower one.
type snapshotJSON struct {
	plainSnapshot
	Cooldown string `json:"cooldown"`
}

// plainSnapshot drops Snapshot's methods so that encoding it does not recurse.
type plainSnapshot Snapshot

// MarshalJSON writes Cooldown as a duration string ("1m0s"), as weir.yaml and the
// rest of the API do, instead of a count of nanoseconds.
func (s Snapshot) MarshalJSON() ([]byte, error) {
	return json.Marshal(snapshotJSON{plainSnapshot: plainSnapshot(s), Cooldown: s.Cooldown.String()})
}

// UnmarshalJSON reads what MarshalJSON writes, so that clients of the API can
// decode it into the same type.
func (s *Snapshot) UnmarshalJSON(b []byte) error {
	var v snapshotJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Snapshot(v.plainSnapshot)
	s.Cooldown = 0
	if v.Cooldown != "" {
		d, err := time.ParseDuration(v.Cooldown)
		if err != nil {
			return fmt.Errorf("cooldown: %q is not a duration (e.g. 30s)", v.Cooldown)
		}
		s.Cooldown = d
	}
	return nil
}

package ingress

import (
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/internal/problem"
)

// Priority ranks a source for shedding under load.
type Priority int

// The priorities, from shed first to shed last.
const (
	PriorityLow Priority = iota
	PriorityNormal
	PriorityEssential
)

// ParsePriority reads a source's priority as written in weir.yaml; anything
// else than low or essential is normal.
func ParsePriority(s string) Priority {
	switch s {
	case "low":
		return PriorityLow
	case "essential":
		return PriorityEssential
	}
	return PriorityNormal
}

// String is the priority as written in weir.yaml.
func (p Priority) String() string {
	switch p {
	case PriorityLow:
		return "low"
	case PriorityEssential:
		return "essential"
	}
	return "normal"
}

// Shedding thresholds on the pressure (0 idle, 1 full): a low source is refused
// from shedLow, a normal one from shedNormal. An essential source is refused
// only when the pending bound itself is reached, so it keeps flowing while the
// bus is slow but still storing.
const (
	shedLow    = 0.5
	shedNormal = 0.8
)

// ackHalfLife is how fast the ack-time estimate forgets: with no new samples it
// halves every ackHalfLife. Once every source is shed no event reaches the bus
// any more, and this decay is what lets the next one through to measure again.
// It runs only while no store is in flight (see Publishing): an ack not yet
// come back is no sign that the bus got faster. Decaying meanwhile too kept the
// estimate at 40-80 % of the ack time when acks came one at a time, so
// shedding started late and out of priority order.
const ackHalfLife = time.Second

// ackWeight is the weight of a new sample in the ack-time estimate.
const ackWeight = 0.2

// Gate bounds the events a node holds while the bus stores them and
// decides, from how loaded the node is, which sources to refuse first.
//
// Pressure is the larger of two ratios: the events pending (admitted, not yet
// answered) over MaxPending, and the recent time the bus took to store an
// event over SlowAck. The first grows when the process is saturated or
// requests arrive faster than they are stored; the second when the bus itself
// slows down. Every request is counted from before its body is read, so
// MaxPending also bounds the memory held in request bodies.
type Gate struct {
	maxPending int64
	slowAck    time.Duration
	now        func() time.Time

	pending atomic.Int64

	mu         sync.Mutex
	ackSecs    float64   // moving average of the time to store an event
	ackAt      time.Time // when ackSecs was last updated
	publishing int       // stores in flight; ackSecs decays only at 0
}

// NewGate builds a Gate; maxPending and slowAck must be positive.
func NewGate(maxPending int, slowAck time.Duration) *Gate {
	return &Gate{maxPending: int64(maxPending), slowAck: slowAck, now: time.Now}
}

// Enter admits one event of priority p, or answers why not (503 overloaded with
// Retry-After). An admitted caller must call the returned release when it has
// answered.
func (g *Gate) Enter(p Priority) (release func(), refused *problem.Problem) {
	n := g.pending.Add(1)
	// The pressure is the one this event finds, before it is counted.
	if n > g.maxPending || (p < PriorityEssential && g.pressure(n-1) >= threshold(p)) {
		g.pending.Add(-1)
		return nil, overloaded(p)
	}
	return g.leave, nil
}

func (g *Gate) leave() { g.pending.Add(-1) }

// threshold is the pressure from which priority p is refused.
func threshold(p Priority) float64 {
	if p == PriorityLow {
		return shedLow
	}
	return shedNormal
}

// Publishing marks the start of one store on the bus; the caller calls done
// when the bus has answered (or failed), which records how long it took.
func (g *Gate) Publishing() (done func()) {
	start := g.now()
	g.mu.Lock()
	if g.publishing == 0 {
		// The idle time until now counts; the time in flight will not.
		g.ackSecs, g.ackAt = g.decayed(start), start
	}
	g.publishing++
	g.mu.Unlock()
	return func() {
		now := g.now()
		g.mu.Lock()
		g.observe(now, now.Sub(start)) // still in flight: no decay
		g.publishing--
		g.mu.Unlock()
	}
}

// Observe records how long the bus took to store (or fail to store) one event
// whose start Publishing did not see.
func (g *Gate) Observe(d time.Duration) {
	now := g.now()
	g.mu.Lock()
	g.observe(now, d)
	g.mu.Unlock()
}

// observe adds a sample; g.mu is held.
func (g *Gate) observe(now time.Time, d time.Duration) {
	g.ackSecs = g.decayed(now)*(1-ackWeight) + d.Seconds()*ackWeight
	g.ackAt = now
}

// decayed is the ack-time estimate as of now; g.mu is held.
func (g *Gate) decayed(now time.Time) float64 {
	if g.ackAt.IsZero() {
		return 0
	}
	if g.publishing > 0 {
		return g.ackSecs
	}
	age := now.Sub(g.ackAt)
	if age <= 0 {
		return g.ackSecs
	}
	return g.ackSecs * math.Exp2(-float64(age)/float64(ackHalfLife))
}

// pressure is max(pending/MaxPending, ack time/SlowAck) with pending = n.
func (g *Gate) pressure(n int64) float64 {
	byPending := float64(n) / float64(g.maxPending)
	g.mu.Lock()
	ack := g.decayed(g.now())
	g.mu.Unlock()
	return max(byPending, ack/g.slowAck.Seconds())
}

// Load is what /metrics and the tests read: events pending and the pressure.
func (g *Gate) Load() (pending int64, pressure float64) {
	n := g.pending.Load()
	return n, g.pressure(n)
}

// overloaded is the answer to a shed request. Lower priorities are told to
// wait longer, so that when load comes back the important sources go first.
func overloaded(p Priority) *problem.Problem {
	pr := problem.New(http.StatusServiceUnavailable, "overloaded",
		"weir is shedding load and refused this "+p.String()+"-priority event without storing it; retry after the time in Retry-After, it will not be treated as a duplicate").WithField("source")
	switch p {
	case PriorityLow:
		pr.RetryAfter = 10 * time.Second
	case PriorityNormal:
		pr.RetryAfter = 5 * time.Second
	default:
		pr.RetryAfter = time.Second
	}
	return pr
}

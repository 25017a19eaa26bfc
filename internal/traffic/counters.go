package traffic

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Other is the key under which the keys past a bound are counted together.
// It cannot clash with a real key: event types and outcomes have no spaces or
// parentheses, and weir's own sources are URIs.
const Other = "(other)"

// Default bounds on the keys kept per kind.
const (
	DefaultMaxTypes   = 1000
	DefaultMaxSources = 1000
	// maxOutcomes is generous: delivery has fewer than ten outcomes.
	maxOutcomes = 32
)

// Kind names one family of keys.
type Kind string

// The kinds of keys the counters keep.
const (
	// Types are events accepted, by event type.
	Types Kind = "types"
	// Sources are events accepted, by CloudEvents source.
	Sources Kind = "sources"
	// Outcomes are deliveries, by outcome (delivered, failed, retry_after,
	// gone, denied, filtered, dead_letter as delivery records them, and
	// dead_lettered for every event that became a dead letter).
	Outcomes Kind = "outcomes"
)

// Options configure Counters.
type Options struct {
	// MaxTypes bounds the event types counted one by one; the rest are counted
	// under Other. Default DefaultMaxTypes.
	MaxTypes int
	// MaxSources bounds the sources likewise. Default DefaultMaxSources.
	MaxSources int
	// Now is the clock; default time.Now. Tests move it by hand.
	Now func() time.Time
	// Events is the bus's EVENTS stream, read by LastSeen; nil leaves LastSeen
	// with what this node counted.
	Events jetstream.Stream
	// LastSeenTTL is how long a LastSeen answer is reused. Default 10s.
	LastSeenTTL time.Duration
}

// Counters counts accepted events and deliveries on this node since it started.
// It is safe for concurrent use; its zero value is not: use New.
type Counters struct {
	now     func() time.Time
	started time.Time

	mu    sync.Mutex
	kinds map[Kind]*keyed

	last *lastSeen
}

// keyed holds the rings of one kind, at most max of them plus Other.
type keyed struct {
	rings map[string]*ring
	max   int
}

func (k *keyed) ring(key string) *ring {
	r, ok := k.rings[key]
	if ok {
		return r
	}
	if len(k.rings) >= k.max {
		// Past the bound every new key shares one ring, so memory stays
		// fixed whatever senders invent.
		key = Other
		if r, ok = k.rings[Other]; ok {
			return r
		}
	}
	r = &ring{}
	k.rings[key] = r
	return r
}

// New builds empty counters.
func New(o Options) *Counters {
	if o.MaxTypes <= 0 {
		o.MaxTypes = DefaultMaxTypes
	}
	if o.MaxSources <= 0 {
		o.MaxSources = DefaultMaxSources
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LastSeenTTL <= 0 {
		o.LastSeenTTL = 10 * time.Second
	}
	c := &Counters{now: o.Now, started: o.Now(), kinds: map[Kind]*keyed{
		Types:    {rings: map[string]*ring{}, max: o.MaxTypes},
		Sources:  {rings: map[string]*ring{}, max: o.MaxSources},
		Outcomes: {rings: map[string]*ring{}, max: maxOutcomes},
	}}
	c.last = &lastSeen{stream: o.Events, ttl: o.LastSeenTTL, now: o.Now, local: c.lastCounted, cache: map[string]seenAt{}}
	return c
}

// Accepted counts one event stored on the bus. It implements ingress.Observer.
func (c *Counters) Accepted(typ, source string) {
	now := c.now()
	c.mu.Lock()
	c.kinds[Types].ring(typ).add(now, 1)
	c.kinds[Sources].ring(source).add(now, 1)
	c.mu.Unlock()
}

// Delivered counts one delivery outcome. It implements delivery.Observer.
func (c *Counters) Delivered(outcome string) {
	now := c.now()
	c.mu.Lock()
	c.kinds[Outcomes].ring(outcome).add(now, 1)
	c.mu.Unlock()
}

// Snapshot is every series of one moment.
type Snapshot struct {
	// Since is when this node started counting.
	Since time.Time `json:"since"`
	// At is the moment of the snapshot; the last minute of every PerMinute is
	// the minute At falls in.
	At time.Time `json:"at"`
	// Types, Sources and Outcomes are the series of each kind, the busiest of
	// the last hour first (then by key).
	Types    []Series `json:"types"`
	Sources  []Series `json:"sources"`
	Outcomes []Series `json:"outcomes"`
}

// Snapshot copies every series.
func (c *Counters) Snapshot() Snapshot {
	now := c.now()
	return Snapshot{Since: c.started, At: now,
		Types: c.Top(Types, 0), Sources: c.Top(Sources, 0), Outcomes: c.Top(Outcomes, 0)}
}

// Top returns the n busiest keys of kind over the last hour (all when n <= 0),
// busiest first, ties by key; keys with nothing in the hour come last, by
// total since start.
func (c *Counters) Top(kind Kind, n int) []Series {
	now := c.now()
	c.mu.Lock()
	k := c.kinds[kind]
	out := make([]Series, 0, len(k.rings))
	for key, r := range k.rings {
		out = append(out, r.series(key, now))
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Series) int {
		return cmp.Or(cmp.Compare(b.LastHour, a.LastHour), cmp.Compare(b.Total, a.Total), cmp.Compare(a.Key, b.Key))
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// Get returns the series of one key; ok is false when this node never counted
// it (a key past the bound is counted under Other).
func (c *Counters) Get(kind Kind, key string) (s Series, ok bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.kinds[kind]
	if k == nil {
		return Series{}, false
	}
	r, ok := k.rings[key]
	if !ok {
		return Series{}, false
	}
	return r.series(key, now), true
}

// Totals are the counts since this node started.
type Totals struct {
	// Since is when this node started counting.
	Since time.Time `json:"since"`
	// Accepted counts the events stored.
	Accepted uint64 `json:"accepted"`
	// Deliveries counts deliveries by outcome.
	Deliveries map[string]uint64 `json:"deliveries"`
}

// Totals sums every key.
func (c *Counters) Totals() Totals {
	t := Totals{Since: c.started, Deliveries: map[string]uint64{}}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.kinds[Types].rings {
		t.Accepted += r.total
	}
	for key, r := range c.kinds[Outcomes].rings {
		t.Deliveries[key] = r.total
	}
	return t
}

// lastCounted is when this node last counted type typ.
func (c *Counters) lastCounted(typ string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.kinds[Types].rings[typ]; ok && typ != Other {
		return r.last
	}
	return time.Time{}
}

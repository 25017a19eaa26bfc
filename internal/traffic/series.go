package traffic

import "time"

// Minutes is how many one-minute buckets a series keeps: the last hour.
const Minutes = 60

// ring counts one key per minute over the last hour. A bucket is reused when its
// minute comes round again; the minute it holds tells a stale bucket from a
// live one, so nothing has to sweep the ring as time passes.
type ring struct {
	count  [Minutes]uint64
	minute [Minutes]int64 // minute number (Unix seconds / 60) the bucket counts
	total  uint64         // since the node started
	last   time.Time      // when this node last counted the key
}

// minuteOf numbers the minute t falls in.
func minuteOf(t time.Time) int64 { return t.Unix() / 60 }

func (r *ring) add(now time.Time, n uint64) {
	m := minuteOf(now)
	i := m % Minutes
	if r.minute[i] != m {
		r.minute[i], r.count[i] = m, 0
	}
	r.count[i] += n
	r.total += n
	r.last = now
}

// perMinute returns the hour ending with now's minute, oldest minute first.
func (r *ring) perMinute(now time.Time) []uint64 {
	out := make([]uint64, Minutes)
	end := minuteOf(now)
	for k := range Minutes {
		m := end - Minutes + 1 + int64(k)
		if i := m % Minutes; i >= 0 && r.minute[i] == m {
			out[k] = r.count[i]
		}
	}
	return out
}

// Series is one key's figures.
type Series struct {
	// Key is the event type, source or outcome; Other for the keys folded
	// together past the cardinality bound.
	Key string `json:"key"`
	// PerMinute holds the counts of the last 60 minutes, oldest first; the
	// last entry is the current, still running minute.
	PerMinute []uint64 `json:"per_minute"`
	// LastHour is the sum of PerMinute.
	LastHour uint64 `json:"last_hour"`
	// Total counts since this node started.
	Total uint64 `json:"total"`
	// LastCounted is when this node last counted the key (zero: never). For
	// the last time a type was stored on any node, see Counters.LastSeen.
	LastCounted time.Time `json:"last_counted,omitzero"`
}

func (r *ring) series(key string, now time.Time) Series {
	s := Series{Key: key, PerMinute: r.perMinute(now), Total: r.total, LastCounted: r.last}
	for _, n := range s.PerMinute {
		s.LastHour += n
	}
	return s
}

package bus

import (
	"sync"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
)

// keyFilter answers "certainly not remembered" for most new delivery ids
// without a lookup in the store: a Pebble point read costs ~8 µs of CPU, a
// Bloom filter test a fraction of one. It holds every key of the store that is
// still within the window.
//
// Keys go into Bloom filters of filterCapacity keys each (about 1.8 bytes per
// key; 0.1 % false positives, which only cost the lookup that would have
// happened anyway). A filter is dropped once its newest key is older than the
// window: every key it holds has expired from the store too.
//
// Its memory is bounded: past filterMaxKeys keys within the window, it drops
// every filter and answers "maybe" to everything (each request then reads the
// store) until a whole window has passed without a key it had to skip.
type keyFilter struct {
	ttl     time.Duration
	maxGens int
	now     func() time.Time

	mu       sync.RWMutex
	gens     []*generation // oldest first; the last takes new keys
	overflow time.Time     // while now is before it, the filter is off
}

type generation struct {
	bloom *bloom.BloomFilter
	n     uint
	last  time.Time // when the newest key was added
}

const (
	filterCapacity = 1 << 20
	filterFalsePos = 0.001
	// filterMaxKeys bounds the filter at ~30 MB: 16 Mi keys, which is a 24 h
	// window at ~190 new delivery ids per second, sustained.
	filterMaxKeys = 16 << 20
)

func newKeyFilter(ttl time.Duration) *keyFilter {
	return &keyFilter{ttl: ttl, maxGens: filterMaxKeys / filterCapacity, now: time.Now}
}

// add records key as remembered at time at (now for a new key; its stored time
// when the filter is built from the store).
func (f *keyFilter) add(key string, at time.Time) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	// Drop generations whose keys have all expired from the store.
	for len(f.gens) > 0 && now.Sub(f.gens[0].last) > f.ttl {
		f.gens[0] = nil
		f.gens = f.gens[1:]
	}
	if now.Before(f.overflow) {
		// Every key skipped must have expired before the filter is used again.
		if end := at.Add(f.ttl); end.After(f.overflow) {
			f.overflow = end
		}
		return
	}
	if len(f.gens) == 0 || f.gens[len(f.gens)-1].n >= filterCapacity {
		if len(f.gens) == f.maxGens {
			f.gens = nil
			f.overflow = at.Add(f.ttl)
			return
		}
		f.gens = append(f.gens, &generation{bloom: bloom.NewWithEstimates(filterCapacity, filterFalsePos)})
	}
	g := f.gens[len(f.gens)-1]
	g.bloom.AddString(key)
	g.n++
	if at.After(g.last) {
		g.last = at
	}
}

// mayHold is false when key was certainly not remembered within the window.
func (f *keyFilter) mayHold(key string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.now().Before(f.overflow) {
		return true
	}
	for i := len(f.gens) - 1; i >= 0; i-- {
		if f.gens[i].bloom.TestString(key) {
			return true
		}
	}
	return false
}

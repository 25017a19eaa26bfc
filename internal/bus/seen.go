package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/nats-io/nats.go/jetstream"
)

// keyFilter answers "certainly not remembered" for most new delivery ids
// without asking the de-duplication bucket, which saves a round trip to the
// server on nearly every request.
//
// It is exact only while this process is the bucket's one writer: it holds
// every key found in the bucket at start plus every key Remember wrote since.
// So it is used with the embedded bus kept inside the process (no bus.url, no
// bus.listen); with a shared bus, every lookup asks the bucket.
//
// Keys go into Bloom filters of filterCapacity keys each. A filter is dropped
// once its newest key is older than the bucket's TTL: every key it holds has
// expired from the bucket too. Memory is about 1.8 bytes per key remembered
// within the window; false positives (0.1 %) only cost the bucket lookup that
// would have happened anyway.
type keyFilter struct {
	ttl time.Duration
	now func() time.Time

	mu   sync.RWMutex
	gens []*generation // oldest first; the last takes new keys
}

type generation struct {
	bloom *bloom.BloomFilter
	n     uint
	last  time.Time // when the newest key was added
}

const (
	filterCapacity = 1 << 20
	filterFalsePos = 0.001
)

func newKeyFilter(ttl time.Duration) *keyFilter {
	return &keyFilter{ttl: ttl, now: time.Now}
}

// add records key as remembered.
func (f *keyFilter) add(key string) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.gens) == 0 || f.gens[len(f.gens)-1].n >= filterCapacity {
		f.gens = append(f.gens, &generation{bloom: bloom.NewWithEstimates(filterCapacity, filterFalsePos)})
	}
	g := f.gens[len(f.gens)-1]
	g.bloom.AddString(key)
	g.n++
	g.last = now
	// Drop generations whose keys have all expired from the bucket.
	for len(f.gens) > 1 && now.Sub(f.gens[0].last) > f.ttl {
		f.gens = f.gens[1:]
	}
}

// mayHold is false when key was certainly not remembered within the window.
func (f *keyFilter) mayHold(key string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for i := len(f.gens) - 1; i >= 0; i-- {
		if f.gens[i].bloom.TestString(key) {
			return true
		}
	}
	return false
}

// load adds every key the bucket holds now.
func (f *keyFilter) load(ctx context.Context, kv jetstream.KeyValue) error {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = lister.Stop() }()
	for k := range lister.Keys() {
		f.add(k)
	}
	return nil
}

// Recall looks a delivery key up in the de-duplication bucket: the value
// Remember stored under it and when, or found = false.
func (b *Bus) Recall(ctx context.Context, key string) (value []byte, created time.Time, found bool, err error) {
	if b.filter != nil && !b.filter.mayHold(key) {
		return nil, time.Time{}, false, nil
	}
	e, err := b.dedupe.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, time.Time{}, false, nil
	case err != nil:
		return nil, time.Time{}, false, fmt.Errorf("%w: de-duplication lookup: %v", ErrUnavailable, err)
	}
	return e.Value(), e.Created(), true, nil
}

// startFilter builds the key filter when this process is the bucket's only
// writer; see keyFilter.
func (b *Bus) startFilter(ctx context.Context, ttl time.Duration) error {
	if b.ns == nil || b.cfg.Listen != "" {
		return nil
	}
	f := newKeyFilter(ttl)
	if err := f.load(ctx, b.dedupe); err != nil {
		return fmt.Errorf("read bucket %s: %w", DedupeBucket, err)
	}
	b.filter = f
	return nil
}

package bus

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/nats-io/nats.go/jetstream"
)

// diskKeys remembers delivery keys in a Pebble store next to the embedded
// server's files. It is used when this process is the only writer (the
// embedded bus without bus.listen), and exists because JetStream keeps an
// in-memory index entry for every subject of a stream: a key-value bucket
// with one subject per delivery id holds about 170 bytes of heap per id for
// the whole window, so a 24 h window at 1,000 events/s would need some 15 GB.
// Pebble keeps its index on disk; its memory is its memtables and block cache,
// bounded whatever the rate and the window.
//
// One record per key, k<key> -> created (8 bytes, Unix ns) + value. A lookup
// is one point read, skipped for most new keys by a keyFilter. Expiry scans the
// records every expiryEvery(ttl) (an eighth of the window, at least 5 s) and
// deletes those older than the window, so a record lives at most 9/8 of it; a
// lookup checks the time itself. The scan costs ~0.14 µs a record (0.7 µs
// with its delete; 1 million records measured here), where an expiry index
// would cost a random read per record and a second write on the request's
// path: lookup and record take ~1.5 µs together (BenchmarkDiskKeys).
//
// Writes wait for neither the disk nor the file: Pebble's log writer hands
// them to the operating system from its own goroutine moments later. A kill
// or power loss therefore costs at most the de-duplication of the last
// moments' ids, which the EVENTS stream's own window still covers for
// StreamDuplicateWindow after a restart (the stream rebuilds it from the
// stored messages).
type diskKeys struct {
	ttl    time.Duration
	now    func() time.Time
	log    *slog.Logger
	filter *keyFilter

	mu     sync.RWMutex // held for reading by every use of db, for writing by close
	db     *pebble.DB
	closed bool

	stop     chan struct{}
	stopOnce sync.Once // close may be called more than once
	done     chan struct{}
}

const (
	keyRecord = 'k'
	// expiryBatch bounds one expiry write.
	expiryBatch = 10_000
)

// openDiskKeys opens (or creates) the store in dir and starts its expiry.
func openDiskKeys(dir string, ttl time.Duration, log *slog.Logger) (*diskKeys, error) {
	cache := pebble.NewCache(16 << 20)
	defer cache.Unref()
	opts := &pebble.Options{
		Logger:       pebbleLogger{log: log},
		MemTableSize: 4 << 20,
		Cache:        cache,
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		// Keys are base64 of SHA-256 sums and values a time and an id:
		// block compression finds next to nothing and costs CPU on every
		// flush and compaction.
		opts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	}
	// Pebble would make the directory 0755; the keys name every sender's
	// deliveries, so only weir's user may list them.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open the de-duplication store %s: %w", dir, err)
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open the de-duplication store %s: %w", dir, err)
	}
	d := &diskKeys{ttl: ttl, now: time.Now, log: log, filter: newKeyFilter(ttl), db: db,
		stop: make(chan struct{}), done: make(chan struct{})}
	d.filter.now = func() time.Time { return d.now() } // tests move d.now
	if err := d.loadFilter(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("read the de-duplication store %s: %w", dir, err)
	}
	go d.expireLoop()
	return d, nil
}

// loadFilter adds every key of the store still within the window to the filter.
func (d *diskKeys) loadFilter() error {
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyRecord}, UpperBound: []byte{keyRecord + 1}})
	if err != nil {
		return err
	}
	cutoff := d.now().Add(-d.ttl)
	for it.First(); it.Valid(); it.Next() {
		v := it.Value()
		if len(v) < 8 {
			continue
		}
		if at := time.Unix(0, int64(binary.BigEndian.Uint64(v))); at.After(cutoff) {
			d.filter.add(string(it.Key()[1:]), at)
		}
	}
	return it.Close()
}

func (d *diskKeys) recall(_ context.Context, key string) (value []byte, created time.Time, found bool, err error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, time.Time{}, false, ErrUnavailable
	}
	if !d.filter.mayHold(key) {
		return nil, time.Time{}, false, nil
	}
	v, closer, err := d.db.Get(recordKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("%w: de-duplication lookup: %v", ErrUnavailable, err)
	}
	defer closer.Close()
	if len(v) < 8 {
		return nil, time.Time{}, false, nil
	}
	created = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
	if d.now().Sub(created) > d.ttl {
		return nil, time.Time{}, false, nil
	}
	return bytes.Clone(v[8:]), created, true, nil
}

func (d *diskKeys) remember(key string, value []byte) error {
	return d.rememberAt(key, value, d.now())
}

func (d *diskKeys) rememberAt(key string, value []byte, now time.Time) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrUnavailable
	}
	d.filter.add(key, now)
	v := make([]byte, 8, 8+len(value))
	binary.BigEndian.PutUint64(v, uint64(now.UnixNano()))
	v = append(v, value...)
	return d.db.Set(recordKey(key), v, pebble.NoSync)
}

// rememberAll writes the records in one batch: all or none.
func (d *diskKeys) rememberAll(recs []Record) (failed int, err error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return len(recs), ErrUnavailable
	}
	now := d.now()
	b := d.db.NewBatch()
	defer b.Close()
	var v []byte
	for _, r := range recs {
		d.filter.add(r.Key, now)
		v = binary.BigEndian.AppendUint64(v[:0], uint64(now.UnixNano()))
		v = append(v, r.Value...)
		if err := b.Set(recordKey(r.Key), v, nil); err != nil {
			return len(recs), err
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return len(recs), err
	}
	return 0, nil
}

// importBucket copies the keys of a key-value bucket, with their times.
func (d *diskKeys) importBucket(ctx context.Context, kv jetstream.KeyValue) (int, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = lister.Stop() }()
	n := 0
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired meanwhile
		}
		if err != nil {
			return n, err
		}
		if err := d.rememberAt(key, e.Value(), e.Created()); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (d *diskKeys) close() error {
	d.stopOnce.Do(func() { close(d.stop) })
	<-d.done
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.db.Close()
}

func (d *diskKeys) expireLoop() {
	defer close(d.done)
	t := time.NewTicker(expiryEvery(d.ttl))
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			if _, err := d.expire(); err != nil {
				d.log.Warn("de-duplication store: expiry failed", slog.Any("error", err))
			}
		}
	}
}

// expiryEvery is how often the records are scanned for expired keys.
func expiryEvery(ttl time.Duration) time.Duration { return max(ttl/8, 5*time.Second) }

// expire deletes every key remembered more than ttl ago and reports how many.
func (d *diskKeys) expire() (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return 0, nil
	}
	cutoff := d.now().Add(-d.ttl).UnixNano()
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyRecord}, UpperBound: []byte{keyRecord + 1}})
	if err != nil {
		return 0, err
	}
	defer func() { _ = it.Close() }()
	b := d.db.NewBatch()
	defer func() { _ = b.Close() }()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		if v := it.Value(); len(v) >= 8 && int64(binary.BigEndian.Uint64(v)) >= cutoff {
			continue
		}
		if err := b.Delete(it.Key(), nil); err != nil {
			return n, err
		}
		n++
		if b.Count() >= expiryBatch {
			if err := b.Commit(pebble.NoSync); err != nil {
				return n, err
			}
			_ = b.Close()
			b = d.db.NewBatch()
		}
		select {
		case <-d.stop:
			return n, b.Commit(pebble.NoSync)
		default:
		}
	}
	if err := it.Error(); err != nil {
		return n, err
	}
	return n, b.Commit(pebble.NoSync)
}

func recordKey(key string) []byte {
	k := make([]byte, 0, 1+len(key))
	return append(append(k, keyRecord), key...)
}

// pebbleLogger sends Pebble's messages to weir's log.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), slog.String("component", "dedupe-store"))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), slog.String("component", "dedupe-store"))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(msg, slog.String("component", "dedupe-store"))
	panic("de-duplication store: " + msg)
}

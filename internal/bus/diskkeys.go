package bus

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
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
// Two records per key:
//
//	k<key>                     -> created (8 bytes, Unix ns) + value
//	t<created Unix s, 8 bytes><key> -> nothing: the expiry index
//
// A lookup is one point read, skipped for most new keys by a keyFilter.
// Every expiryEvery, the expiry index is walked from its start up to
// now-ttl: each key whose record is that old is deleted, then the walked index
// range is dropped.
//
// Writes do not wait for fsync: a record reaches the operating system's page
// cache before Remember returns (it survives the process being killed, as
// JetStream's own files do), and a power loss costs at most the
// de-duplication of the last moments' ids, which the EVENTS stream's own
// window still covers for StreamDuplicateWindow after a restart.
type diskKeys struct {
	ttl    time.Duration
	now    func() time.Time
	log    *slog.Logger
	filter *keyFilter

	mu     sync.RWMutex // held for reading by every use of db, for writing by close
	db     *pebble.DB
	closed bool

	stop chan struct{}
	done chan struct{}
}

const (
	keyRecord    = 'k'
	expiryRecord = 't'
	// expiryEvery is how often expired keys are removed.
	expiryEvery = 5 * time.Second
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
	b := d.db.NewBatch()
	defer b.Close()
	if err := b.Set(recordKey(key), v, nil); err != nil {
		return err
	}
	if err := b.Set(expiryKey(now.Unix(), key), nil, nil); err != nil {
		return err
	}
	return b.Commit(pebble.NoSync)
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
	close(d.stop)
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
	t := time.NewTicker(expiryEvery)
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

// expire deletes every key remembered more than ttl ago and reports how many.
func (d *diskKeys) expire() (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return 0, nil
	}
	cutoff := d.now().Add(-d.ttl)
	// Index entries of second cutoff.Unix() may still be live; stop before it.
	lower, upper := []byte{expiryRecord}, expiryKey(cutoff.Unix(), "")
	total := 0
	for {
		n, last, err := d.expireBatch(lower, upper, cutoff)
		total += n
		if err != nil || last == nil {
			return total, err
		}
		lower = last
	}
}

// expireBatch handles up to expiryBatch index entries in [lower, upper): it
// deletes the records they point at that are older than cutoff (a key
// remembered again since keeps its newer record) and the entries themselves.
// last is where the next batch starts, nil when the range is done.
func (d *diskKeys) expireBatch(lower, upper []byte, cutoff time.Time) (n int, last []byte, err error) {
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, nil, err
	}
	b := d.db.NewBatch()
	defer b.Close()
	for it.First(); it.Valid() && n < expiryBatch; it.Next() {
		k := it.Key()
		key := recordKey(string(k[9:]))
		v, closer, err := d.db.Get(key)
		switch {
		case errors.Is(err, pebble.ErrNotFound):
		case err != nil:
			_ = it.Close()
			return n, nil, err
		default:
			old := len(v) < 8 || time.Unix(0, int64(binary.BigEndian.Uint64(v))).Before(cutoff)
			_ = closer.Close()
			if old {
				if err := b.Delete(key, nil); err != nil {
					_ = it.Close()
					return n, nil, err
				}
			}
		}
		n++
		last = bytes.Clone(k)
	}
	more := it.Valid()
	if err := it.Close(); err != nil {
		return n, nil, err
	}
	if n == 0 {
		return 0, nil, nil
	}
	end := upper
	if more {
		end = append(bytes.Clone(last), 0) // just past last
	}
	if err := b.DeleteRange(lower, end, nil); err != nil {
		return n, nil, err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return n, nil, err
	}
	if !more {
		return n, nil, nil
	}
	return n, end, nil
}

func recordKey(key string) []byte {
	k := make([]byte, 0, 1+len(key))
	return append(append(k, keyRecord), key...)
}

func expiryKey(unix int64, key string) []byte {
	k := make([]byte, 9, 9+len(key))
	k[0] = expiryRecord
	binary.BigEndian.PutUint64(k[1:], uint64(unix))
	return append(k, key...)
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

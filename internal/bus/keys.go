package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// keyIndex remembers senders' delivery keys for the de-duplication window.
type keyIndex interface {
	// recall is the value remembered under key and when, or found = false.
	recall(ctx context.Context, key string) (value []byte, created time.Time, found bool, err error)
	// remember records key -> value; the caller's event is already stored.
	remember(key string, value []byte) error
	// rememberAll records several keys at once, each with its value; failed
	// is how many were not recorded.
	rememberAll(recs []Record) (failed int, err error)
	// close releases the store; it may be called again. A closed store's
	// recall fails with ErrUnavailable and its remember fails.
	close() error
}

// Recall looks a delivery key up: the value Remember stored under it and
// when, or found = false.
func (b *Bus) Recall(ctx context.Context, key string) (value []byte, created time.Time, found bool, err error) {
	return b.keys.recall(ctx, key)
}

// Remember records key -> value for the de-duplication window. The event it
// describes is already durable: a lost record only narrows de-duplication to
// the stream's own window for that one delivery. Failures are counted
// (RememberErrors).
func (b *Bus) Remember(key string, value []byte) error {
	err := b.keys.remember(key, value)
	if err != nil {
		b.rememberErrors.Add(1)
	}
	return err
}

// Record is one key and value for RememberAll.
type Record struct {
	Key   string
	Value []byte
}

// RememberAll records several keys in one write, as Remember does for one:
// the cheap way for a caller that stores many events in a row (cdc). A
// record not written is counted.
func (b *Bus) RememberAll(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	failed, err := b.keys.rememberAll(recs)
	b.rememberErrors.Add(int64(failed))
	return err
}

// RememberErrors counts de-duplication records that were not written.
func (b *Bus) RememberErrors() int64 { return b.rememberErrors.Load() }

// bucketKeys remembers keys in the JetStream key-value bucket DedupeBucket,
// which every weir node sharing the bus reads and writes. JetStream holds an
// in-memory index entry per key on the servers (about 170 bytes), so on a
// shared bus the window's memory is the cluster's: size dedupe_window to the
// senders' retry horizon.
type bucketKeys struct {
	js jetstream.JetStream
	kv jetstream.KeyValue
}

// dedupeSubjectPrefix is where the bucket's keys are written.
const dedupeSubjectPrefix = "$KV." + DedupeBucket + "."

func (k bucketKeys) recall(ctx context.Context, key string) ([]byte, time.Time, bool, error) {
	e, err := k.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, time.Time{}, false, nil
	case err != nil:
		return nil, time.Time{}, false, fmt.Errorf("%w: de-duplication lookup: %v", ErrUnavailable, err)
	}
	return e.Value(), e.Created(), true, nil
}

// remember publishes without waiting for the ack; a failed ack is counted by
// the bus's asynchronous error handler.
func (k bucketKeys) remember(key string, value []byte) error {
	_, err := k.js.PublishAsync(dedupeSubjectPrefix+key, value, jetstream.WithStallWait(time.Second))
	return err
}

// rememberAll publishes each record, going on past one that fails.
func (k bucketKeys) rememberAll(recs []Record) (failed int, err error) {
	for _, r := range recs {
		if e := k.remember(r.Key, r.Value); e != nil {
			failed++
			if err == nil {
				err = e
			}
		}
	}
	return failed, err
}

func (bucketKeys) close() error { return nil }

package cdc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The published-up-to mark keeps long-window de-duplication cheap.
//
// A change read again after a crash has the id it had the first time. The
// EVENTS stream drops a second copy with the same Nats-Msg-Id for
// bus.StreamDuplicateWindow (30 s), which covers a quick restart. A longer
// outage (weir down for an hour while the slot keeps the WAL) needs the
// bus's long window (bus.Recall/bus.Remember), but looking every change up
// would cost a read per change for ever, to catch the few changes that are
// read twice: those published before a crash and not yet confirmed.
//
// So the publisher saves, before it publishes a change whose commit time is
// past the saved mark, a new mark some minutes ahead (markLease) in the
// weir-cdc bucket. Every change ever published therefore has a commit time
// at or before the saved mark, whatever the order of commit times (a clock
// that steps back only makes more changes fall under the mark). After a
// restart, only changes at or before the mark are looked up; the first
// change past it, and all later ones, are not: they cannot have been
// published. The steady-state cost is one bucket write per markLease of
// commit time and no lookups; the cost of a restart is a lookup per change
// committed in the markLease before the crash, plus those re-read.
//
// A change without a commit time is always looked up.
//
// What is looked up: a change whose reader names its transaction
// (Change.Tx) has no record of its own; the acker keeps one record per
// transaction, holding the index of the last change of it the bus stored
// (changes are stored in order, so every change before it is stored too),
// rewritten as more are stored, at most once per batch of records. A change
// is known stored when its index is at most that. Changes without Tx
// (snapshot and backfill rows) get a record each, and a change whose
// transaction record does not cover it is looked up under its own key too,
// so records an earlier version wrote one by one still count.

// markLease is how far ahead of a change's commit time a saved mark reaches.
const markLease = 2 * time.Minute

// markKey is the bucket key of a source's mark.
func markKey(name string) string { return "published." + name }

// loadMark reads the saved mark; zero when none was saved.
func loadMark(ctx context.Context, kv jetstream.KeyValue, name string) (time.Time, error) {
	if kv == nil {
		return time.Time{}, nil
	}
	e, err := kv.Get(ctx, markKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read the published-up-to mark: %w", err)
	}
	var t time.Time
	if err := t.UnmarshalText(e.Value()); err != nil {
		return time.Time{}, fmt.Errorf("read the published-up-to mark: %w", err)
	}
	return t, nil
}

// saveMark stores t as the mark; it waits for the bucket's ack, since
// publishing past the old mark is only safe once the new one is stored.
func saveMark(ctx context.Context, kv jetstream.KeyValue, name string, t time.Time) error {
	if kv == nil {
		return nil
	}
	b, _ := t.UTC().MarshalText()
	_, err := kv.Put(ctx, markKey(name), b)
	return err
}

// Bucket is the key-value bucket of cdc state: readers' positions and
// snapshot progress, pause flags, and the publishers' marks.
const Bucket = "weir-cdc"

// OpenBucket creates or opens the weir-cdc bucket.
func OpenBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "weir: cdc sources' positions, snapshot progress, pause flags and published-up-to marks",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(1, replicas),
	})
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", Bucket, err)
	}
	return kv, nil
}

package view

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Item is one key of a latest view, as stored and as read.
type Item struct {
	// Key is the view key.
	Key string `json:"key"`
	// Fields are the declared fields' values (views with fields).
	Fields map[string]json.RawMessage `json:"fields,omitempty"`
	// Data is the whole payload (views without fields).
	Data json.RawMessage `json:"data,omitempty"`
	// Time is the time of the event that set the key.
	Time time.Time `json:"time"`
	// EventID and Type are that event's.
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	// Seq is that event's sequence in the bus's event stream.
	Seq uint64 `json:"seq"`
	// Deleted marks a tombstone: the key was deleted by an event of Time,
	// and an older event may not bring it back. Tombstones are never read
	// as items.
	Deleted bool `json:"deleted,omitempty"`
}

// Count is one record of a count view: one time bucket and one
// combination of by-values.
type Count struct {
	// Bucket is the start of the time bucket.
	Bucket time.Time `json:"bucket"`
	// By are the by-values, by name.
	By map[string]string `json:"by"`
	// Count is how many events fell in.
	Count int64 `json:"count"`
	// Sum adds up the sum pointer's numbers.
	Sum float64 `json:"sum"`
	// Seq is the stream sequence of the last event counted: an event at or
	// below it was counted already.
	Seq uint64 `json:"seq"`
}

// bucketName is the KV bucket of a view's generation.
func bucketName(view string, gen uint64) string { return fmt.Sprintf("weir-view-%s-%d", view, gen) }

// store is one generation's bucket.
type store struct {
	bucket string
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	stream jetstream.Stream // the bucket's own stream, for paging by sequence
	// tombstoneTTL is how long a deleted key's tombstone is kept.
	tombstoneTTL time.Duration
}

// openStore creates (or opens) a generation's bucket.
func openStore(ctx context.Context, js jetstream.JetStream, view string, gen uint64, replicas int, tombstoneTTL time.Duration) (*store, error) {
	name := bucketName(view, gen)
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "weir: view " + view + ", generation " + fmt.Sprint(gen),
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		// Enables per-key TTLs, which tombstones use; the marker an expired
		// tombstone leaves is itself kept this long.
		LimitMarkerTTL: time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", name, err)
	}
	st, err := js.Stream(ctx, "KV_"+name)
	if err != nil {
		return nil, fmt.Errorf("open the stream of bucket %s: %w", name, err)
	}
	return &store{bucket: name, js: js, kv: kv, stream: st, tombstoneTTL: max(tombstoneTTL, time.Second)}, nil
}

// openExisting opens a generation's bucket for reading, without creating it.
func openExisting(ctx context.Context, js jetstream.JetStream, view string, gen uint64) (*store, error) {
	name := bucketName(view, gen)
	kv, err := js.KeyValue(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", name, err)
	}
	st, err := js.Stream(ctx, "KV_"+name)
	if err != nil {
		return nil, fmt.Errorf("open the stream of bucket %s: %w", name, err)
	}
	return &store{bucket: name, js: js, kv: kv, stream: st}, nil
}

// conflict reports whether a write lost a compare-and-set race: the record
// changed since it was read, so it is read again.
func conflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var api *jetstream.APIError
	return errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// read gets a record; found is false for a key never written or deleted.
func (s *store) read(ctx context.Context, key string) (value []byte, rev uint64, found bool, err error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	return e.Value(), e.Revision(), true, nil
}

// write sets key to value if it is still at revision rev (0: absent), with
// a TTL when ttl > 0.
func (s *store) write(ctx context.Context, key string, value []byte, rev uint64, ttl time.Duration) error {
	if rev == 0 {
		var opts []jetstream.KVCreateOpt
		if ttl > 0 {
			opts = append(opts, jetstream.KeyTTL(ttl))
		}
		_, err := s.kv.Create(ctx, key, value, opts...)
		return err
	}
	if ttl <= 0 {
		_, err := s.kv.Update(ctx, key, value, rev)
		return err
	}
	// KeyValue.Update takes no TTL: the same publish, with one.
	msg := &nats.Msg{Subject: "$KV." + s.bucket + "." + key, Data: value}
	_, err := s.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(ttl))
	return err
}

// applyLatest applies one event to a latest view: it sets (or deletes) the
// key unless the stored record is from a newer event (later time, or the
// same time and a later stream sequence), which also makes a redelivered
// event change nothing.
func (s *store) applyLatest(ctx context.Context, c Change, id, typ string, seq uint64) error {
	key := EncodeKey(c.Key)
	next := Item{Key: c.Key, Fields: c.Fields, Data: c.Data, Time: c.Time, EventID: id, Type: typ, Seq: seq, Deleted: c.Delete}
	if c.Delete {
		next.Fields, next.Data = nil, nil
	}
	value, err := json.Marshal(next)
	if err != nil {
		return err
	}
	ttl := time.Duration(0)
	if c.Delete {
		ttl = s.tombstoneTTL
	}
	for {
		raw, rev, found, err := s.read(ctx, key)
		if err != nil {
			return err
		}
		if found {
			var cur Item
			if json.Unmarshal(raw, &cur) == nil && !newer(next, cur) {
				return nil
			}
		}
		err = s.write(ctx, key, value, rev, ttl)
		if conflict(err) {
			continue
		}
		return err
	}
}

// newer reports whether a is a later state of its key than b.
func newer(a, b Item) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.After(b.Time)
	}
	return a.Seq > b.Seq
}

// applyCount adds one event to its count record, unless the record counted
// it already (its sequence is at or below the record's).
func (s *store) applyCount(ctx context.Context, c Change, by []string, seq uint64) error {
	values := make([]string, len(by))
	for i, b := range by {
		values[i] = c.By[b]
	}
	key := countKey(c.Bucket, values)
	for {
		raw, rev, found, err := s.read(ctx, key)
		if err != nil {
			return err
		}
		rec := Count{Bucket: c.Bucket, By: c.By}
		if found {
			// A record weir did not write is replaced rather than left to
			// stop the view for good.
			if err := json.Unmarshal(raw, &rec); err != nil {
				rec = Count{Bucket: c.Bucket, By: c.By}
			}
			if seq <= rec.Seq {
				return nil
			}
		}
		rec.Count++
		rec.Sum += c.Sum
		rec.Seq = seq
		value, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		err = s.write(ctx, key, value, rev, 0)
		if conflict(err) {
			continue
		}
		return err
	}
}

// Package deadletter keeps the events that could not go on: undeliverable after
// their retries (and, later, quarantined at ingress). Each dead letter keeps the
// event, every attempt, a reason and guidance in plain words, so that the app's
// owner can fix the cause and send it on. Dead letters live in a JetStream
// key-value bucket, with their own retention independent of the EVENTS stream's.
package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
)

// Bucket is the key-value bucket that holds dead letters.
const Bucket = "weir-deadletters"

// ErrNotFound means no dead letter has that id.
var ErrNotFound = errors.New("no dead letter with that id")

// Attempt is one try at delivering an event.
type Attempt struct {
	// Subscription that made the attempt.
	Subscription string `json:"subscription"`
	// EventID of the event delivered.
	EventID string `json:"event_id"`
	// Number of the attempt, from 1.
	Number int `json:"attempt"`
	// At is when the attempt started.
	At time.Time `json:"at"`
	// Outcome is success, failure, retry_after, gone or filtered... see delivery.
	Outcome string `json:"outcome"`
	// Status is the HTTP status code, 0 when there was no answer.
	Status int `json:"status,omitempty"`
	// LatencyMS is how long the attempt took.
	LatencyMS float64 `json:"latency_ms"`
	// Error says what went wrong without an answer (timeout, refused connection).
	Error string `json:"error,omitempty"`
	// Response is the first bytes of the answer's body.
	Response string `json:"response,omitempty"`
	// NextRetryIn is the delay before the next attempt, when there is one.
	NextRetryIn string `json:"next_retry_in,omitempty"`
}

// DeadLetter is an event that could not go on.
type DeadLetter struct {
	// ID of the dead letter (not of the event).
	ID string `json:"id"`
	// Kind is "undeliverable" (push retries exhausted) or "quarantined".
	Kind string `json:"kind"`
	// Subscription that gave up, for undeliverable events.
	Subscription string `json:"subscription,omitempty"`
	// EventID and EventType identify the event.
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	// StreamSeq is the event's sequence in the EVENTS stream.
	StreamSeq uint64 `json:"stream_seq,omitempty"`
	// Event is the whole CloudEvent, kept here so that the dead letter outlives the
	// stream's retention.
	Event json.RawMessage `json:"event"`
	// Reason says in one sentence why the event stopped.
	Reason string `json:"reason"`
	// Guidance says what to do about it, in words a non-engineer can act on.
	Guidance string `json:"guidance"`
	// LastError is the last attempt's error or answer.
	LastError string `json:"last_error,omitempty"`
	// Attempts are every delivery attempt, oldest first.
	Attempts []Attempt `json:"attempts,omitempty"`
	// CreatedAt is when the event became a dead letter.
	CreatedAt time.Time `json:"created_at"`
}

// Store keeps dead letters.
type Store struct {
	kv jetstream.KeyValue
}

// Open creates (or updates) the bucket; maxAge is how long dead letters are kept.
func Open(ctx context.Context, js jetstream.JetStream, maxAge time.Duration, replicas int) (*Store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "weir: events that could not go on, with their attempts and guidance",
		TTL:         maxAge,
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", Bucket, err)
	}
	return &Store{kv: kv}, nil
}

// Add stores d, giving it an id and a creation time when it has none.
func (s *Store) Add(ctx context.Context, d *DeadLetter) error {
	if d.ID == "" {
		d.ID = ulid.Make().String()
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now().UTC()
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = s.kv.Put(ctx, d.ID, raw)
	return err
}

// Get reads one dead letter.
func (s *Store) Get(ctx context.Context, id string) (*DeadLetter, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var d DeadLetter
	if err := json.Unmarshal(e.Value(), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Filter selects dead letters; zero fields match everything.
type Filter struct {
	// Subscription that gave up.
	Subscription string
	// EventID of the event.
	EventID string
	// Limit caps the result (default 100).
	Limit int
}

// List returns the newest dead letters first that pass f.
func (s *Store) List(ctx context.Context, f Filter) ([]*DeadLetter, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	// ULIDs sort by creation time.
	slices.Sort(keys)
	slices.Reverse(keys)
	var out []*DeadLetter
	for _, k := range keys {
		if len(out) == f.Limit {
			break
		}
		d, err := s.Get(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if f.Subscription != "" && d.Subscription != f.Subscription {
			continue
		}
		if f.EventID != "" && d.EventID != f.EventID {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

func validID(id string) bool {
	return id != "" && len(id) <= 64 && !strings.ContainsAny(id, ".*> \t")
}

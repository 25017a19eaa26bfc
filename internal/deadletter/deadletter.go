// Package deadletter keeps the events that could not go on: undeliverable after
// their retries, or quarantined at ingress for breaking their contract. Each dead letter keeps the
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
	"github.com/weir-dev/weir/internal/event"
)

// Bucket is the key-value bucket that holds dead letters.
const Bucket = "weir-deadletters"

// ErrNotFound means no dead letter has that id.
var ErrNotFound = errors.New("no dead letter with that id")

// Attempt is one try at delivering an event.
type Attempt struct {
	// Subscription that made the attempt.
	Subscription string `json:"subscription"`
	// SubscriptionUID is the incarnation of the subscription that made it, so
	// that a later subscription of the same name does not read it.
	SubscriptionUID string `json:"subscription_uid,omitempty"`
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
	// ErrorClass names the kind of Error in one stable word (refused,
	// no_such_host, timeout, denied, filter_limit, filter_data, ...), so that
	// dead letters can be grouped by cause without reading Error's text.
	// Empty on records stored before weir kept it.
	ErrorClass string `json:"error_class,omitempty"`
	// Request is what weir sent: method, URL and headers, signatures
	// included; the subscription's secret never is, only signatures made
	// with it. Absent when no request was made.
	Request *Request `json:"request,omitempty"`
	// ResponseHeaders are the answer's headers, bounded (see delivery's
	// push.go): at most 32 names, values cut to 256 bytes.
	ResponseHeaders map[string][]string `json:"response_headers,omitempty"`
	// Response is the first KiB of the answer's body, cut at a whole
	// UTF-8 character.
	Response string `json:"response,omitempty"`
	// NextRetryIn is the delay before the next attempt, when there is one.
	NextRetryIn string `json:"next_retry_in,omitempty"`
}

// Request is the HTTP request of one attempt, as sent.
type Request struct {
	// Method is POST.
	Method string `json:"method"`
	// URL is the subscription's push URL.
	URL string `json:"url"`
	// Headers are every header weir set, signature headers included.
	Headers map[string][]string `json:"headers"`
}

// Violation is one way a quarantined event breaks its contract.
type Violation struct {
	// Pointer is the JSON pointer into the event's data.
	Pointer string `json:"pointer"`
	// Rule is the schema keyword that failed.
	Rule string `json:"rule"`
	// Message says what is wrong, in plain words.
	Message string `json:"message"`
}

// DeadLetter is an event that could not go on.
type DeadLetter struct {
	// ID of the dead letter (not of the event).
	ID string `json:"id"`
	// Kind is "undeliverable" (push retries exhausted), "quarantined" or
	// "sink" (a store refused it).
	Kind string `json:"kind"`
	// Subscription that gave up, for undeliverable events.
	Subscription string `json:"subscription,omitempty"`
	// Sink whose store refused the event, for dead letters of kind sink.
	Sink string `json:"sink,omitempty"`
	// SubscriptionUID is the incarnation of that subscription: a subscription
	// created later under the same name has another one and does not inherit
	// this dead letter. Empty on dead letters stored before weir kept it.
	SubscriptionUID string `json:"subscription_uid,omitempty"`
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
	// Source of the event, for quarantined events.
	Source string `json:"source,omitempty"`
	// Violations are every way a quarantined event breaks its contract.
	Violations []Violation `json:"violations,omitempty"`
	// LastError is the last attempt's error or answer.
	LastError string `json:"last_error,omitempty"`
	// Attempts are every delivery attempt, oldest first.
	Attempts []Attempt `json:"attempts,omitempty"`
	// CreatedAt is when the event became a dead letter.
	CreatedAt time.Time `json:"created_at"`
	// Status is open, redriven or resolved.
	Status string `json:"status"`
	// ClosedAt is when it was redriven or resolved, ClosedBy by whom (a token
	// name) and Resolution why.
	ClosedAt   time.Time `json:"closed_at,omitzero"`
	ClosedBy   string    `json:"closed_by,omitempty"`
	Resolution string    `json:"resolution,omitempty"`
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
	if d.Status == "" {
		d.Status = StatusOpen
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

// Kinds of a dead letter.
const (
	// KindUndeliverable: a subscription gave up on the event.
	KindUndeliverable = "undeliverable"
	// KindQuarantined: the event broke its contract at ingress.
	KindQuarantined = "quarantined"
	// KindSink: a sink's store refused the event (or it could not be read).
	KindSink = "sink"
)

// Statuses of a dead letter.
const (
	// StatusOpen: waiting for someone to act.
	StatusOpen = "open"
	// StatusRedriven: sent on again.
	StatusRedriven = "redriven"
	// StatusResolved: closed by a person, with a reason, without sending it on.
	StatusResolved = "resolved"
)

// Filter selects dead letters; zero fields match everything.
type Filter struct {
	// Subscription that gave up.
	Subscription string
	// Source of a quarantined event: its CloudEvents source, or a webhook
	// source's name.
	Source string
	// Type is an event type pattern (NATS wildcards).
	Type string
	// Kind is undeliverable or quarantined.
	Kind string
	// Status is open (the default for listings), redriven, resolved or "all".
	Status string
	// Reason matches dead letters whose reason contains it (case-insensitive).
	Reason string
	// EventID of the event.
	EventID string
	// Cause is a cause key (see CauseOf): only dead letters of that cause.
	Cause string
	// From and To bound the creation time: From <= created < To.
	From, To time.Time
	// Before continues a listing after the dead letter with this id (the
	// previous page's next cursor).
	Before string
	// Limit caps the result (default 100, at most 1000).
	Limit int
	// Visible, when set, keeps only the dead letters the caller may see. It is
	// applied while the listing is made, not afterwards, so that a page is
	// full of visible dead letters and its cursor is the id of one of them.
	Visible func(*DeadLetter) bool
}

func (f Filter) match(d *DeadLetter) bool {
	status := d.Status
	if status == "" {
		status = StatusOpen
	}
	switch {
	case f.Subscription != "" && d.Subscription != f.Subscription,
		f.Source != "" && d.Source != f.Source && d.Source != "/sources/"+f.Source,
		f.Type != "" && !event.MatchType(f.Type, d.EventType),
		f.Kind != "" && d.Kind != f.Kind,
		f.Status != "all" && f.Status != "" && status != f.Status,
		f.Reason != "" && !strings.Contains(strings.ToLower(d.Reason), strings.ToLower(f.Reason)),
		f.EventID != "" && d.EventID != f.EventID,
		f.Cause != "" && CauseOf(d).Key != f.Cause,
		!f.From.IsZero() && d.CreatedAt.Before(f.From),
		!f.To.IsZero() && !d.CreatedAt.Before(f.To),
		f.Visible != nil && !f.Visible(d):
		return false
	}
	return true
}

// List returns the newest dead letters first that pass f, and the cursor of
// the next page: "" when there is none, else the id of the last dead letter
// returned, which passed f (and f.Visible) itself.
func (s *Store) List(ctx context.Context, f Filter) ([]*DeadLetter, string, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	keys, err := s.keysNewestFirst(ctx, f.Before)
	if err != nil {
		return nil, "", err
	}
	var out []*DeadLetter
	// Read in chunks, the first the size of the page: a filter that
	// matches few reads on in bigger passes (getMany) instead of one read
	// per key.
	for chunk := f.Limit; len(keys) > 0; chunk = max(chunk, 4*bulkFrom) {
		n := min(chunk, len(keys))
		part, err := s.getMany(ctx, keys[:n])
		if err != nil {
			return nil, "", err
		}
		keys = keys[n:]
		for i, d := range part {
			if !f.match(d) {
				continue
			}
			out = append(out, d)
			if len(out) == f.Limit {
				if i == len(part)-1 && len(keys) == 0 {
					return out, "", nil
				}
				return out, d.ID, nil
			}
		}
	}
	return out, "", nil
}

// keysNewestFirst lists the ids of every dead letter, newest first, only
// those before the id before when it is set.
func (s *Store) keysNewestFirst(ctx context.Context, before string) ([]string, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, err
	}
	var keys []string
	for k := range lister.Keys() {
		if before == "" || k < before {
			keys = append(keys, k)
		}
	}
	// ULIDs sort by creation time.
	slices.Sort(keys)
	slices.Reverse(keys)
	return keys, nil
}

// Update rewrites a dead letter (its status); the id must exist.
func (s *Store) Update(ctx context.Context, d *DeadLetter) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = s.kv.Put(ctx, d.ID, raw)
	return err
}

// Delete removes a dead letter for good.
func (s *Store) Delete(ctx context.Context, id string) error {
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	return s.kv.Purge(ctx, id)
}

func validID(id string) bool {
	return id != "" && len(id) <= 64 && !strings.ContainsAny(id, ".*> \t")
}

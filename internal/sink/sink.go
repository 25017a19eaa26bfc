// Package sink loads events from the bus into stores. A sink is a built-in
// consumer: one durable JetStream consumer on the EVENTS stream per sink, read
// in batches by a Runner that hands each batch to a Sink (the store's side)
// and acknowledges the bus messages only after the store accepted the batch.
//
// Providers (ClickHouse first) are registered explicitly in a Registry by the
// server's wiring; there is no init() registration. Every provider passes the
// conformance suite in internal/sink/sinktest.
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/view"
)

// Record is one event handed to a sink, as the bus stores it.
type Record struct {
	// Seq is the event's sequence in the EVENTS stream.
	Seq uint64
	// Event is the decoded CloudEvent.
	Event event.Event
	// Raw is the CloudEvent JSON as stored on the bus.
	Raw []byte
	// ReceivedAt is when the bus stored the event.
	ReceivedAt time.Time
}

// Batching bounds one batch: it is written when it holds MaxRows records or
// when its oldest record has waited MaxWait, whichever comes first.
type Batching struct {
	// MaxRows is the most records in one batch.
	MaxRows int
	// MaxWait is the longest a record waits for its batch to fill.
	MaxWait time.Duration
	// MaxBytes bounds the events (Record.Raw) of one batch: the batch is
	// written once they reach it, passing it by one event at most. Zero is
	// DefaultMaxBytes.
	MaxBytes int
}

// DefaultMaxBytes is Batching.MaxBytes when not given.
const DefaultMaxBytes = config.DefaultSinkBytes

// Sink writes batches of records into one store. The Runner calls Write from
// one goroutine at a time; Start before the first Write and Stop after the last.
//
// The contract every provider keeps (and internal/sink/sinktest checks):
//   - Write returns nil only when the store has accepted every record of the
//     batch; the Runner then acknowledges them on the bus, so a record whose
//     Write returned nil is never handed again except after a replay.
//   - A record may be handed more than once (a crash between the store's
//     accept and the bus's ack, a replay): writing it again must not leave two
//     copies visible to a reader that de-duplicates the store's way (for
//     ClickHouse, a FINAL read of a ReplacingMergeTree keyed by event id).
//   - A store that refuses the batch because of what is in it returns a
//     *RefusedError; the Runner then splits the batch to find the refused
//     records, which become dead letters of kind "sink". Any other error is
//     transient: the Runner backs off and writes the same batch again, and the
//     backlog stays on the bus meanwhile.
type Sink interface {
	// Start connects to the store and creates or migrates what the sink writes
	// into. An error that a later try may fix is returned as is; the Runner
	// retries Start with backoff until it succeeds or the Runner stops.
	Start(ctx context.Context) error
	// Write stores one batch (see the contract above).
	Write(ctx context.Context, batch []Record) error
	// Batching says how large and how old a batch may grow for this sink.
	Batching() Batching
	// Stop releases the store's connections. The Runner has written or
	// abandoned its last batch before it calls Stop.
	Stop(ctx context.Context) error
}

// RefusedError means the store refused a batch because of its content (a
// value it cannot parse, a row it rejects), not because it is unavailable.
// Writing the same records again would fail the same way.
type RefusedError struct {
	// Reason is the store's own error, as it said it.
	Reason string
	// Err is the underlying error, when there is one.
	Err error
}

func (e *RefusedError) Error() string { return "the store refused the batch: " + e.Reason }

// Unwrap returns the underlying error.
func (e *RefusedError) Unwrap() error { return e.Err }

// Refused reports whether err says the store refused a batch for its content.
func Refused(err error) (*RefusedError, bool) {
	var r *RefusedError
	ok := errors.As(err, &r)
	return r, ok
}

// Deps are what a provider may use to build a sink.
type Deps struct {
	// Name is the sink's name (sinks.<name> in weir.yaml, or the API's).
	Name string
	// Observer, when not nil, is told of values a sink had to replace by a
	// default; it may be nil.
	Observer Observer
	// Views are the server's compiled views, by name. A provider that can
	// keep a copy of a view in its store (ClickHouse keeps "twins") picks
	// the ones its sink sees every event of; it may be nil.
	Views map[string]*view.Spec
	// Log receives the sink's own logs; nil discards them.
	Log *slog.Logger
}

// Observer learns of what a sink did to records that it still wrote.
type Observer interface {
	// Defaulted counts one value that could not be converted to its column's
	// type and was stored as the column's default instead.
	Defaulted(sink, table, column string)
}

// Provider builds sinks of one kind from their section of a sink's config.
type Provider interface {
	// Kind is the config key of the provider's section ("clickhouse").
	Kind() string
	// New builds a sink from its spec; it does not connect (Start does).
	// Errors name the field at fault as *field.Error where they can.
	New(spec *config.Sink, deps Deps) (Sink, error)
}

// ErrUnknownKind means a sink's spec names no registered provider.
var ErrUnknownKind = errors.New("no sink provider of that kind")

// Registry holds the providers a server knows, by kind.
type Registry struct {
	providers map[string]Provider
}

// NewRegistry registers the given providers. Two providers of one kind is a
// programming error and panics at start-up, never on input.
func NewRegistry(providers ...Provider) *Registry {
	r := &Registry{providers: map[string]Provider{}}
	for _, p := range providers {
		if _, dup := r.providers[p.Kind()]; dup {
			panic(fmt.Sprintf("sink: two providers of kind %q", p.Kind()))
		}
		r.providers[p.Kind()] = p
	}
	return r
}

// Kinds lists the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	out := make([]string, 0, len(r.providers))
	for k := range r.providers {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// New builds the sink a spec asks for.
func (r *Registry) New(spec *config.Sink, deps Deps) (Sink, error) {
	kind := spec.Kind()
	p, ok := r.providers[kind]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	return p.New(spec, deps)
}

package cdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
)

// Deps are what a reader is built with.
type Deps struct {
	// Emitter takes the reader's changes (the source's Publisher).
	Emitter Emitter
	// Log is the source's logger.
	Log *slog.Logger
	// KV is the weir-cdc bucket: the reader keeps its position and snapshot
	// progress there, under keys starting with "<name>.".
	KV jetstream.KeyValue
	// Metrics are the cdc metrics.
	Metrics *Metrics
}

// ReaderFactory builds the readers of one database kind.
type ReaderFactory interface {
	// Kind is the config key of the kind's section ("postgres", "mysql").
	Kind() string
	// New builds a reader; it does not connect (Start does).
	New(name string, spec *config.CDC, deps Deps) (Reader, error)
}

// Backfiller is a Reader that can read a table again while streaming goes
// on (POST /v1/cdc/{name}/backfill). where is a condition in the database's
// SQL, empty for the whole table; the answer is the backfill's id.
type Backfiller interface {
	Backfill(ctx context.Context, table, where string) (id string, err error)
}

// ErrBackfillRunning is returned by Backfill while the source's previous
// backfill is still reading.
var ErrBackfillRunning = errors.New("cdc: a backfill of this source is still running; wait for it to be done")

// BackfillError is a backfill request the reader refuses: a table it does
// not capture, a condition the database does not accept. Field is "table"
// or "where".
type BackfillError struct {
	Field, Reason string
	// Err is the database's error, when it refused the condition.
	Err error
}

func (e *BackfillError) Error() string { return "cdc: backfill " + e.Field + ": " + e.Reason }

// Unwrap is the database's error.
func (e *BackfillError) Unwrap() error { return e.Err }

// ExcludedKeyError is a reader's refusal to start a source whose
// columns.exclude names a column of a table's primary key: the key is the
// events' subject and partition key, which would be lost.
type ExcludedKeyError struct {
	// Table is schema.table (or database.table); Column the key column.
	Table, Column string
}

func (e *ExcludedKeyError) Error() string {
	return fmt.Sprintf("cdc: tables.%s.columns.exclude names %q, a column of the table's primary key; events need the key as their subject: remove it from exclude", e.Table, e.Column)
}

// Dropper is a Reader that can remove what it keeps in its database or the
// bucket (the slot and publication; a saved binlog position), so that a
// removed source does not pin the database's log. removed says what went.
type Dropper interface {
	Drop(ctx context.Context) (removed []string, err error)
}

// ErrUnknownKind means no factory is registered for a source's kind.
var ErrUnknownKind = errors.New("cdc: no reader for this kind of database")

// Registry holds the reader factories, registered explicitly.
type Registry struct {
	factories map[string]ReaderFactory
}

// NewRegistry registers the given factories. Two of one kind is a
// programming error and panics at start-up, never on input.
func NewRegistry(factories ...ReaderFactory) *Registry {
	r := &Registry{factories: map[string]ReaderFactory{}}
	for _, f := range factories {
		if _, dup := r.factories[f.Kind()]; dup {
			panic(fmt.Sprintf("cdc: two reader factories of kind %q", f.Kind()))
		}
		r.factories[f.Kind()] = f
	}
	return r
}

// Kinds are the registered kinds, sorted.
func (r *Registry) Kinds() []string { return slices.Sorted(maps.Keys(r.factories)) }

// New builds the reader of a source.
func (r *Registry) New(name string, spec *config.CDC, deps Deps) (Reader, error) {
	f, ok := r.factories[spec.Kind()]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKind, spec.Kind())
	}
	return f.New(name, spec, deps)
}

// CheckConfig refuses a cdc source whose kind this build cannot read, naming
// the section (cdc.<name>.postgres).
func CheckConfig(r *Registry, sources map[string]*config.CDC) error {
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		s := sources[name]
		if s == nil || s.Kind() == "" {
			continue // config validation names it
		}
		if _, ok := r.factories[s.Kind()]; !ok {
			return &field.Error{Path: "cdc." + name + "." + s.Kind(), Reason: fmt.Sprintf("this build of weir cannot read %s (it reads: %v)", s.Kind(), r.Kinds()), Err: ErrUnknownKind}
		}
	}
	return nil
}

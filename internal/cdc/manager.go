package cdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
)

// Errors of the Manager, decided by the API with errors.Is.
var (
	// ErrNotFound means no cdc source has that name.
	ErrNotFound = errors.New("cdc: no such source")
	// ErrUnsupported means the source's reader cannot do what was asked
	// (backfill, drop).
	ErrUnsupported = errors.New("cdc: the source's reader does not support this")
	// ErrNotPaused means a drop was asked of a running source: pause it first.
	ErrNotPaused = errors.New("cdc: the source is running; pause it before dropping it")
	// ErrPaused means a backfill was asked of a paused source.
	ErrPaused = errors.New("cdc: the source is paused")
)

// StopTimeout bounds Manager.Stop when its ctx has no deadline.
const StopTimeout = 30 * time.Second

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	// Sources are weir.yaml's cdc sections, with defaults filled in.
	Sources map[string]*config.CDC
	// Registry builds the readers.
	Registry *Registry
	// Contracts registers the tables' contracts; nil registers none.
	Contracts Contracts
	// Metrics; nil counts nothing.
	Metrics *Metrics
	// Log receives the sources' warnings.
	Log *slog.Logger
	// Replicas of the weir-cdc bucket.
	Replicas int
}

// SourceStatus is what GET /v1/cdc/{name} answers.
type SourceStatus struct {
	// Name and Kind ("postgres", "mysql") of the source.
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Paused is true while the source is paused: its reader is stopped, and
	// a PostgreSQL slot keeps the WAL from the paused position on.
	Paused bool `json:"paused"`
	Status
	// Pending are changes waiting for the bus's ack.
	Pending int `json:"pending"`
	// Tables are the contract states of the tables seen.
	Tables []TableState `json:"tables,omitempty"`
}

// Manager runs the cdc sources: a Publisher and a Reader each.
type Manager struct {
	bus *bus.Bus
	cfg ManagerConfig
	kv  jetstream.KeyValue

	mu      sync.Mutex
	running map[string]*running
	errs    map[string]error // why a source did not start
}

type running struct {
	reader Reader
	pub    *Publisher
}

// NewManager builds the manager; Start starts the sources.
func NewManager(b *bus.Bus, cfg ManagerConfig) *Manager {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = NewRegistry()
	}
	return &Manager{bus: b, cfg: cfg, running: map[string]*running{}, errs: map[string]error{}}
}

func pausedKey(name string) string { return "paused." + name }

// Start opens the weir-cdc bucket and starts every source that is not
// paused. A source that fails to start is logged and shown with its error;
// it does not stop weir.
func (m *Manager) Start(ctx context.Context) error {
	kv, err := OpenBucket(ctx, m.bus.JetStream(), m.cfg.Replicas)
	if err != nil {
		return err
	}
	m.kv = kv
	for _, name := range slices.Sorted(maps.Keys(m.cfg.Sources)) {
		paused, err := m.paused(ctx, name)
		if err != nil {
			return err
		}
		if paused {
			m.cfg.Log.WarnContext(ctx, "cdc source paused; a PostgreSQL slot keeps WAL meanwhile", slog.String("source", name))
			continue
		}
		m.start(ctx, name)
	}
	return nil
}

func (m *Manager) paused(ctx context.Context, name string) (bool, error) {
	_, err := m.kv.Get(ctx, pausedKey(name))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	case err != nil:
		return false, bus.Unavailable("read the cdc pause flag", err)
	}
	return true, nil
}

// start builds and starts one source's publisher and reader.
func (m *Manager) start(ctx context.Context, name string) {
	spec := m.cfg.Sources[name]
	log := m.cfg.Log.With(slog.String("cdc", name))
	var reader Reader
	pub := NewPublisher(m.bus, PublisherConfig{
		Name: name, Prefix: spec.Prefix, Numeric: spec.Numeric, Contracts: m.cfg.Contracts,
		KV: m.kv, Metrics: m.cfg.Metrics, Log: log,
		Confirm: func(pos any) { reader.Confirm(pos) },
	})
	err := pub.Start(ctx)
	if err == nil {
		reader, err = m.cfg.Registry.New(name, spec, Deps{Emitter: pub, Log: log, KV: m.kv, Metrics: m.cfg.Metrics})
	}
	if err == nil {
		err = reader.Start(ctx)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		log.ErrorContext(ctx, "cdc source did not start", slog.Any("error", err))
		m.errs[name] = err
		if reader != nil {
			_ = reader.Stop(ctx)
		}
		_ = pub.Stop(ctx)
		return
	}
	delete(m.errs, name)
	m.running[name] = &running{reader: reader, pub: pub}
}

// stop stops a source's reader, then its publisher, so that its last
// changes are stored and confirmed.
func (m *Manager) stop(ctx context.Context, name string) error {
	m.mu.Lock()
	r := m.running[name]
	delete(m.running, name)
	m.mu.Unlock()
	if r == nil {
		return nil
	}
	return errors.Join(r.reader.Stop(ctx), r.pub.Stop(ctx))
}

// Stop stops every source. Safe twice and before Start. A ctx without a
// deadline gets one of StopTimeout: a publisher waits for the bus's acks,
// which an unreachable bus never sends.
func (m *Manager) Stop(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, StopTimeout)
		defer cancel()
	}
	m.mu.Lock()
	names := slices.Sorted(maps.Keys(m.running))
	m.mu.Unlock()
	var errs []error
	for _, n := range names {
		errs = append(errs, m.stop(ctx, n))
	}
	return errors.Join(errs...)
}

// Pause stops a source and keeps it stopped across restarts.
func (m *Manager) Pause(ctx context.Context, name string) (SourceStatus, error) {
	if _, ok := m.cfg.Sources[name]; !ok {
		return SourceStatus{}, ErrNotFound
	}
	if _, err := m.kv.Put(ctx, pausedKey(name), []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		return SourceStatus{}, bus.Unavailable("save the cdc pause flag", err)
	}
	if err := m.stop(ctx, name); err != nil {
		return SourceStatus{}, err
	}
	return m.Status(ctx, name)
}

// Resume starts a paused source from where it stopped.
func (m *Manager) Resume(ctx context.Context, name string) (SourceStatus, error) {
	if _, ok := m.cfg.Sources[name]; !ok {
		return SourceStatus{}, ErrNotFound
	}
	if err := m.kv.Delete(ctx, pausedKey(name)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return SourceStatus{}, bus.Unavailable("clear the cdc pause flag", err)
	}
	m.mu.Lock()
	_, on := m.running[name]
	m.mu.Unlock()
	if !on {
		m.start(ctx, name)
	}
	return m.Status(ctx, name)
}

// Has reports whether a source of that name is configured.
func (m *Manager) Has(name string) bool {
	_, ok := m.cfg.Sources[name]
	return ok
}

// Status is one source's state.
func (m *Manager) Status(ctx context.Context, name string) (SourceStatus, error) {
	spec, ok := m.cfg.Sources[name]
	if !ok {
		return SourceStatus{}, ErrNotFound
	}
	st := SourceStatus{Name: name, Kind: spec.Kind(), Status: Status{RetainedBytes: -1}}
	m.mu.Lock()
	r, err := m.running[name], m.errs[name]
	m.mu.Unlock()
	switch {
	case r != nil:
		st.Status = r.reader.Status(ctx)
		st.Pending = r.pub.Pending()
		st.Tables = r.pub.Tables()
	case err != nil:
		st.State, st.LastError = "failing", err.Error()
	}
	if m.kv != nil {
		if p, err := m.paused(ctx, name); err == nil && p {
			st.Paused, st.State = true, "paused"
		}
	}
	return st, nil
}

// List is every source's state, by name.
func (m *Manager) List(ctx context.Context) []SourceStatus {
	out := []SourceStatus{}
	for _, name := range slices.Sorted(maps.Keys(m.cfg.Sources)) {
		if st, err := m.Status(ctx, name); err == nil {
			out = append(out, st)
		}
	}
	return out
}

// Statuses are the running readers' statuses, for the metrics collector.
func (m *Manager) Statuses(ctx context.Context) map[string]Status {
	m.mu.Lock()
	rs := maps.Clone(m.running)
	m.mu.Unlock()
	out := make(map[string]Status, len(rs))
	for n, r := range rs {
		out[n] = r.reader.Status(ctx)
	}
	return out
}

// RetainedWarnings are the running sources whose database keeps more log
// for them than they allow (a PostgreSQL slot above max_retained_wal), for
// the portal's home. It reads each running reader's status under ctx.
func (m *Manager) RetainedWarnings(ctx context.Context) []SourceStatus {
	var out []SourceStatus
	for _, st := range m.List(ctx) {
		if st.RetainedOverMax {
			out = append(out, st)
		}
	}
	return out
}

// Backfill asks a running source's reader to read a table again.
func (m *Manager) Backfill(ctx context.Context, name, table, where string) (string, error) {
	if _, ok := m.cfg.Sources[name]; !ok {
		return "", ErrNotFound
	}
	m.mu.Lock()
	r := m.running[name]
	m.mu.Unlock()
	if r == nil {
		return "", ErrPaused
	}
	b, ok := r.reader.(Backfiller)
	if !ok {
		return "", ErrUnsupported
	}
	return b.Backfill(ctx, table, where)
}

// Drop removes what a paused source keeps in its database (slot,
// publication) or in the bucket (a position, the published-up-to mark),
// and answers what was removed. The source stays paused: remove it from
// weir.yaml next, or resuming starts it afresh.
func (m *Manager) Drop(ctx context.Context, name string) ([]string, error) {
	spec, ok := m.cfg.Sources[name]
	if !ok {
		return nil, ErrNotFound
	}
	paused, err := m.paused(ctx, name)
	if err != nil {
		return nil, err
	}
	if !paused {
		return nil, ErrNotPaused
	}
	reader, err := m.cfg.Registry.New(name, spec, Deps{Emitter: NewPublisher(m.bus, PublisherConfig{Name: name}), Log: m.cfg.Log, KV: m.kv, Metrics: m.cfg.Metrics})
	if err != nil {
		return nil, err
	}
	d, ok := reader.(Dropper)
	if !ok {
		return nil, ErrUnsupported
	}
	removed, err := d.Drop(ctx)
	if err != nil {
		return removed, fmt.Errorf("drop cdc source %s: %w", name, err)
	}
	if err := m.kv.Delete(ctx, markKey(name)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return removed, bus.Unavailable("forget the published-up-to mark", err)
	}
	return append(removed, "the published-up-to mark ("+Bucket+" "+markKey(name)+")"), nil
}

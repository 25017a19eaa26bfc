package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/lifecycle"
	"github.com/weir-dev/weir/internal/view"
)

// Bucket holds sinks created through the API ("spec.<name>") and every
// sink's state ("state.<name>"); every node follows it.
const Bucket = "weir-sinks"

// Errors callers decide on.
var (
	// ErrNotFound means there is no sink of that name.
	ErrNotFound = errors.New("no such sink")
	// ErrDeclaredInConfig means the sink is in weir.yaml, which wins over the API.
	ErrDeclaredInConfig = errors.New("the sink is declared in weir.yaml; change it there")
	// ErrExists means a sink of that name already exists.
	ErrExists = errors.New("a sink of that name already exists")
)

// Origins of a sink.
const (
	OriginConfig = "config"
	OriginAPI    = "api"
)

// States of a sink: an active sink loads events, a disabled (paused) one
// leaves them on the bus, where its lag grows.
const (
	StateActive   = "active"
	StateDisabled = "disabled"
)

// stopWait bounds the flush of a runner that stops for a change, a pause
// or a replay, and each runner's in the manager's Stop.
const stopWait = 30 * time.Second

// State is what weir remembers about a sink between restarts.
type State struct {
	// State is active or disabled.
	State string `json:"state"`
	// Reason explains a disabled sink.
	Reason string `json:"reason,omitempty"`
	// Since is when the state was entered.
	Since time.Time `json:"since,omitzero"`
}

// ManagerConfig are the manager's settings.
type ManagerConfig struct {
	// Sinks declared in weir.yaml.
	Sinks map[string]*config.Sink
	// Registry builds sinks by kind.
	Registry *Registry
	// DeadLetters keeps what the stores refuse.
	DeadLetters *deadletter.Store
	// Replicas of the bucket the manager owns.
	Replicas int
	// AckWait is every runner's (see RunnerConfig.AckWait); zero is the default.
	AckWait time.Duration
	// Views are the compiled views every sink is built with (Deps.Views).
	Views map[string]*view.Spec
	// Log receives the manager's logs.
	Log *slog.Logger
}

// Manager runs every sink on this node: those of weir.yaml and those
// created through the API, which every node follows in the bucket.
type Manager struct {
	js      jetstream.JetStream
	bus     *bus.Bus
	cfg     ManagerConfig
	metrics *Metrics
	log     *slog.Logger
	once    lifecycle.Once
	kv      jetstream.KeyValue

	changeMu sync.Mutex // one change of a sink at a time (API and follower race)
	mu       sync.Mutex
	sinks    map[string]*entry
	states   map[string]State // from the bucket, also of sinks not (yet) known here
	// revs is the bucket revision of the last "spec.<name>" and
	// "state.<name>" this node applied: an API call applies its own write at
	// once, and the watcher may bring a later one first; whichever comes
	// second applies only if it is newer.
	revs     map[string]uint64
	bg       context.Context // the background context; nil before Start
	stopped  bool
	stopWait time.Duration // bounds each runner's flush in Stop
}

// entry is one sink known to the manager.
type entry struct {
	name     string
	origin   string
	spec     *config.Sink
	raw      string // spec as JSON, to tell a change from a repeat
	state    State
	progress *Progress
	runner   *Runner // nil while disabled, or when it could not start
}

// NewManager checks weir.yaml's sinks (CheckConfig) and builds a manager;
// Start makes it run. m registers the lag collector; one Metrics serves
// one manager.
func NewManager(b *bus.Bus, cfg ManagerConfig, m *Metrics) (*Manager, error) {
	if cfg.Registry == nil {
		cfg.Registry = NewRegistry()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := CheckConfig(cfg.Registry, cfg.Sinks); err != nil {
		return nil, err
	}
	mgr := &Manager{js: b.JetStream(), bus: b, cfg: cfg, metrics: m, log: cfg.Log,
		sinks: map[string]*entry{}, states: map[string]State{}, revs: map[string]uint64{}, stopWait: stopWait}
	if m != nil {
		if err := m.reg.Register(lagCollector{mgr}); err != nil {
			return nil, fmt.Errorf("sink: register the lag metrics (one Metrics serves one manager): %w", err)
		}
	}
	return mgr, nil
}

// CheckConfig reports what NewManager would refuse in weir.yaml's sinks:
// what config validation refuses, and a kind no provider of reg builds (a
// *field.Error for sinks.<name>.<kind> wrapping ErrUnknownKind), so that
// weir serve refuses the file before it creates anything.
func CheckConfig(reg *Registry, sinks map[string]*config.Sink) error {
	for _, name := range slices.Sorted(maps.Keys(sinks)) {
		spec := sinks[name]
		p := "sinks." + name
		if spec == nil {
			return field.Errorf(p, "is empty: give types and a store section (clickhouse)")
		}
		spec.WithDefaults()
		if err := spec.Validate(p); err != nil {
			return err
		}
		if err := checkKind(reg, name, spec); err != nil {
			var fe *field.Error
			if errors.As(err, &fe) {
				return fe.Prefix(p)
			}
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// checkKind builds the sink spec asks for without starting it: a kind no
// provider builds is a *field.Error for the kind's section.
func checkKind(reg *Registry, name string, spec *config.Sink) error {
	s, err := reg.New(spec, Deps{Name: name})
	if errors.Is(err, ErrUnknownKind) {
		kinds := "none"
		if k := reg.Kinds(); len(k) > 0 {
			kinds = strings.Join(k, ", ")
		}
		return field.Errorf(spec.Kind(), "this weir has no sink of kind %s (it has: %s): %w", spec.Kind(), kinds, ErrUnknownKind)
	}
	if err != nil {
		return err
	}
	_ = s // built to check it; New does not connect
	return nil
}

// Start creates the bucket, starts weir.yaml's sinks and those of the API,
// removes the consumers of sinks no longer declared anywhere, and follows
// the bucket for changes made on any node. ctx bounds the start-up only.
func (m *Manager) Start(ctx context.Context) error {
	return m.once.Start(ctx, ErrStarted, func(bg context.Context) (func(), error) {
		kv, err := m.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      Bucket,
			Description: "weir: sinks created through the API, and every sink's state",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    max(m.cfg.Replicas, 1),
		})
		if err != nil {
			return nil, bus.Unavailable("creating bucket "+Bucket, err)
		}
		m.mu.Lock()
		m.kv, m.bg = kv, bg
		m.mu.Unlock()
		// States first, so that a sink paused on another node starts paused.
		if err := m.loadStates(ctx); err != nil {
			return nil, err
		}
		for _, name := range slices.Sorted(maps.Keys(m.cfg.Sinks)) {
			if err := m.upsert(ctx, name, m.cfg.Sinks[name], OriginConfig); err != nil {
				return nil, fmt.Errorf("sinks.%s: %w", name, err)
			}
		}
		w, err := kv.WatchAll(bg)
		if err != nil {
			return nil, bus.Unavailable("following bucket "+Bucket, err)
		}
		loop, err := bus.FollowKV(ctx, bg, w, m.apply)
		if err != nil {
			return nil, err
		}
		if err := m.dropUndeclared(ctx); err != nil {
			return nil, err
		}
		return loop, nil
	})
}

// Stop stops following the bucket, then every runner, each writing the
// batch in hand within ctx and at most 30 s; a runner that has not
// finished by then stops hard, its batch left to the bus to hand out
// again. It is safe to call twice, and before Start.
func (m *Manager) Stop(ctx context.Context) error {
	err := m.once.Stop(ctx)
	m.mu.Lock()
	m.stopped = true
	entries := slices.Collect(maps.Values(m.sinks))
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range entries {
		m.mu.Lock()
		r := e.runner
		m.mu.Unlock()
		if r != nil {
			wg.Go(func() {
				// A store that is down would have the batch in hand retried
				// for ever: each runner gets stopWait at most, then stops
				// hard, leaving what it holds unacknowledged for the bus to
				// hand out again (at-least-once).
				rctx, cancel := context.WithTimeout(ctx, m.stopWait)
				defer cancel()
				if serr := r.Stop(rctx); serr != nil {
					m.log.Warn("a sink did not finish its last batch in time; the bus hands it out again", slog.String("sink", e.name), slog.Any("error", serr))
				}
			})
		}
	}
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

func (m *Manager) loadStates(ctx context.Context) error {
	lister, err := m.kv.ListKeys(ctx)
	if err != nil {
		return bus.Unavailable("reading bucket "+Bucket, err)
	}
	for k := range lister.Keys() {
		name, ok := strings.CutPrefix(k, "state.")
		if !ok {
			continue
		}
		if e, err := m.kv.Get(ctx, k); err == nil {
			var st State
			if json.Unmarshal(e.Value(), &st) == nil {
				m.mu.Lock()
				m.states[name] = st
				m.mu.Unlock()
			}
		}
	}
	return nil
}

// dropUndeclared deletes the consumers of sinks declared nowhere any more:
// neither in weir.yaml nor in the bucket. A sink of the bucket this node
// could not apply (a kind it lacks, a store it cannot build) is still
// declared: other nodes may run it, and its consumer holds its position.
func (m *Manager) dropUndeclared(ctx context.Context) error {
	declared := map[string]bool{}
	for name := range m.cfg.Sinks {
		declared[name] = true
	}
	keys, err := m.kv.ListKeys(ctx)
	if err != nil {
		return bus.Unavailable("reading bucket "+Bucket, err)
	}
	for k := range keys.Keys() {
		if name, ok := strings.CutPrefix(k, "spec."); ok {
			declared[name] = true
		}
	}
	names := m.bus.Events().ConsumerNames(ctx)
	for c := range names.Name() {
		name, ok := strings.CutPrefix(c, ConsumerPrefix)
		if !ok {
			continue
		}
		m.mu.Lock()
		_, known := m.sinks[name]
		m.mu.Unlock()
		if !known && !declared[name] {
			if err := m.js.DeleteConsumer(ctx, bus.EventsStream, c); err == nil {
				m.log.InfoContext(ctx, "removed the consumer of a sink no longer declared", slog.String("sink", name))
			}
		}
	}
	if err := names.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return bus.Unavailable("listing the sinks' consumers", err)
	}
	return nil
}

// apply follows one change of the bucket, made on any node.
func (m *Manager) apply(e jetstream.KeyValueEntry) {
	kind, name, _ := strings.Cut(e.Key(), ".")
	if !m.newer(e.Key(), e.Revision()) {
		return
	}
	deleted := e.Operation() != jetstream.KeyValuePut
	ctx, cancel := context.WithTimeout(m.background(), stopWait)
	defer cancel()
	switch kind {
	case "spec":
		if _, declared := m.cfg.Sinks[name]; declared {
			return
		}
		if deleted {
			m.remove(ctx, name)
			return
		}
		var spec config.Sink
		if err := json.Unmarshal(e.Value(), &spec); err != nil {
			m.log.Error("stored sink unreadable", slog.String("sink", name), slog.Any("error", err))
			return
		}
		if err := m.upsert(ctx, name, &spec, OriginAPI); err != nil {
			m.log.Error("sink not applied", slog.String("sink", name), slog.Any("error", err))
		}
	case "state":
		st := State{State: StateActive}
		if !deleted {
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				m.log.Error("sink state unreadable; the sink keeps its current state", slog.String("sink", name), slog.Any("error", err))
				return
			}
		}
		m.setState(ctx, name, st)
	}
}

func (m *Manager) background() context.Context {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bg == nil {
		return context.Background()
	}
	return m.bg
}

// upsert starts a sink, or restarts it when its definition changed.
func (m *Manager) upsert(ctx context.Context, name string, spec *config.Sink, origin string) error {
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	spec.WithDefaults()
	if err := spec.Validate(""); err != nil {
		return err
	}
	if err := checkKind(m.cfg.Registry, name, spec); err != nil {
		return err
	}
	raw, _ := json.Marshal(spec)
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return ErrStarted
	}
	old := m.sinks[name]
	st, ok := m.states[name]
	m.mu.Unlock()
	if old != nil && old.raw == string(raw) && old.origin == origin {
		return nil
	}
	if !ok {
		st = State{State: StateActive}
	}
	e := &entry{name: name, origin: origin, spec: spec, raw: string(raw), state: st, progress: &Progress{}}
	if old != nil {
		e.progress = old.progress
		m.stopRunner(old)
	}
	var err error
	if st.State != StateDisabled {
		err = m.startRunner(ctx, e)
	}
	m.mu.Lock()
	m.sinks[name] = e
	m.mu.Unlock()
	return err
}

// startRunner builds a fresh sink (a stopped one is not started again) and
// runs it.
func (m *Manager) startRunner(ctx context.Context, e *entry) error {
	s, err := m.cfg.Registry.New(e.spec, Deps{Name: e.name, Observer: m.metrics, Views: m.cfg.Views,
		Log: m.log.With(slog.String("sink", e.name))})
	if err != nil {
		return err
	}
	r, err := NewRunner(m.js, RunnerConfig{Name: e.name, Spec: e.spec, Sink: s, DeadLetters: m.cfg.DeadLetters,
		Metrics: m.metrics, Progress: e.progress, AckWait: m.cfg.AckWait, Log: m.log})
	if err != nil {
		return err
	}
	if err := r.Start(ctx); err != nil {
		e.progress.failed(err)
		return err
	}
	m.mu.Lock()
	if m.stopped {
		// Stop took its list of runners while this one started: it would
		// run on unowned. It is stopped here as Stop stops the others.
		m.mu.Unlock()
		sctx, cancel := context.WithTimeout(context.Background(), m.stopWait)
		defer cancel()
		_ = r.Stop(sctx)
		return ErrStarted
	}
	e.runner = r
	m.mu.Unlock()
	return nil
}

// stopRunner stops e's runner, letting it write the batch in hand.
func (m *Manager) stopRunner(e *entry) {
	m.mu.Lock()
	r := e.runner
	e.runner = nil
	m.mu.Unlock()
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopWait)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		m.log.Warn("a sink did not finish its last batch in time; the bus hands it out again", slog.String("sink", e.name), slog.Any("error", err))
	}
}

// setState pauses or resumes a sink here.
func (m *Manager) setState(ctx context.Context, name string, st State) {
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	m.mu.Lock()
	m.states[name] = st
	e := m.sinks[name]
	stopped := m.stopped
	if e != nil {
		e.state = st
	}
	m.mu.Unlock()
	if e == nil || stopped {
		return
	}
	switch {
	case st.State == StateDisabled:
		m.stopRunner(e)
	case e.runner == nil:
		if err := m.startRunner(ctx, e); err != nil {
			m.log.Error("sink not resumed", slog.String("sink", name), slog.Any("error", err))
		}
	}
}

// remove stops a sink and deletes its consumer.
func (m *Manager) remove(ctx context.Context, name string) {
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	m.mu.Lock()
	e := m.sinks[name]
	delete(m.sinks, name)
	delete(m.states, name)
	m.mu.Unlock()
	if e != nil {
		m.stopRunner(e)
	}
	_ = m.js.DeleteConsumer(ctx, bus.EventsStream, ConsumerPrefix+name)
}

// names are the sinks known here, sorted.
func (m *Manager) names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.sinks))
}

// newer records rev as the last applied revision of key and reports
// whether it is later than the one applied before.
func (m *Manager) newer(key string, rev uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revs == nil {
		m.revs = map[string]uint64{}
	}
	if rev <= m.revs[key] {
		return false
	}
	m.revs[key] = rev
	return true
}

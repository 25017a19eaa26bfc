package view

import (
	"context"
	"encoding/json"
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
	"github.com/weir-dev/weir/internal/lifecycle"
)

// StatesBucket holds, per view, which generation is current and which one
// a rebuild is filling (key <name>), and each generation's position (key
// <name>.<gen>). Every node follows it, so a rebuild swaps on all of them.
const StatesBucket = "weir-views"

// Errors the API decides on.
var (
	// ErrUnknownView means no view has that name.
	ErrUnknownView = errors.New("no view of that name")
	// ErrUnknownKey means the view holds no such key (never set, or deleted).
	ErrUnknownKey = errors.New("the view holds no such key")
	// ErrRebuilding means a rebuild of the view is already running.
	ErrRebuilding = errors.New("the view is being rebuilt already; wait for it to finish (GET /v1/views shows its progress)")
	// ErrNotCount means a series was asked of a latest view.
	ErrNotCount = errors.New("only count views have a series")
	// errStarted means the manager was started twice or after Stop.
	errStarted = errors.New("view manager: already started or stopped")
)

// State is a view's entry in StatesBucket.
type State struct {
	// Generation is the generation reads use.
	Generation uint64 `json:"generation"`
	// Rebuilding is the generation a rebuild is filling, 0 when none is.
	Rebuilding uint64 `json:"rebuilding,omitempty"`
}

// Config are the views a Manager runs and where they keep data.
type Config struct {
	// Views are the declared views (config.Config.Views).
	Views map[string]*config.View
	// Replicas of each bucket (bus.replicas).
	Replicas int
	// TombstoneTTL is how long a deleted key of a latest view is remembered
	// so that an older event cannot bring it back; weir gives bus.max_age.
	TombstoneTTL time.Duration
}

// Manager runs every view and reads them.
type Manager struct {
	js      jetstream.JetStream
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	specs   map[string]*Spec
	states  jetstream.KeyValue
	bg      context.Context

	mu    sync.Mutex
	views map[string]*running
	once  lifecycle.Once
}

// running is one view's live part on this node.
type running struct {
	state   State
	read    *store // the current generation's bucket
	runners map[uint64]*runner
}

// New compiles the views; nothing is created before Start.
func New(js jetstream.JetStream, cfg Config, m *Metrics, log *slog.Logger) (*Manager, error) {
	specs := make(map[string]*Spec, len(cfg.Views))
	for _, name := range slices.Sorted(maps.Keys(cfg.Views)) {
		s, err := Compile(name, cfg.Views[name])
		if err != nil {
			return nil, err
		}
		specs[name] = s
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Manager{js: js, cfg: cfg, log: log, metrics: m, specs: specs, views: map[string]*running{}}, nil
}

// Start opens the states bucket, makes each new view's first generation and
// starts following. With no view declared it does nothing.
func (m *Manager) Start(ctx context.Context) error {
	return m.once.Start(ctx, errStarted, func(bg context.Context) (func(), error) {
		if len(m.specs) == 0 {
			return nil, nil
		}
		m.bg = bg
		var err error
		m.states, err = m.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      StatesBucket,
			Description: "weir: each view's current generation and the positions of its generations",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    max(m.cfg.Replicas, 1),
		})
		if err != nil {
			return nil, bus.Unavailable("create bucket "+StatesBucket, err)
		}
		for name := range m.specs {
			raw, _ := json.Marshal(State{Generation: 1})
			if _, err := m.states.Create(ctx, name, raw); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
				return nil, bus.Unavailable("create the state of view "+name, err)
			}
		}
		// "*" is one token: the states, not the positions (<name>.<gen>).
		// The watch lives as long as the manager, not the start.
		w, err := m.states.Watch(bg, "*")
		if err != nil {
			return nil, bus.Unavailable("watch bucket "+StatesBucket, err)
		}
		loop, err := bus.FollowKV(ctx, bg, w, m.follow)
		if err != nil {
			return nil, err
		}
		return func() {
			loop()
			m.stopAll(context.WithoutCancel(bg))
		}, nil
	})
}

// Stop stops every view's runners and waits for them.
func (m *Manager) Stop(ctx context.Context) error { return m.once.Stop(ctx) }

// follow brings this node in line with a view's state: runners for the
// current and the rebuilding generation, none for any other (whose bucket
// is then deleted), and reads from the current one.
func (m *Manager) follow(e jetstream.KeyValueEntry) {
	spec := m.specs[e.Key()]
	if spec == nil || e.Operation() != jetstream.KeyValuePut {
		return
	}
	var st State
	if err := json.Unmarshal(e.Value(), &st); err != nil || st.Generation == 0 {
		m.log.Warn("a view's state does not decode; it is left as it was", slog.String("view", spec.Name))
		return
	}
	ctx := m.bg
	m.mu.Lock()
	v := m.views[spec.Name]
	if v == nil {
		v = &running{runners: map[uint64]*runner{}}
		m.views[spec.Name] = v
	}
	var stop []*runner
	for gen, r := range v.runners {
		if gen != st.Generation && gen != st.Rebuilding {
			stop = append(stop, r)
			delete(v.runners, gen)
		}
	}
	v.state = st
	m.mu.Unlock()
	// Reads move to the current generation before the old one is deleted.
	for _, gen := range []uint64{st.Generation, st.Rebuilding} {
		if gen == 0 {
			continue
		}
		// A bus that hiccups as weir starts must not leave the view without
		// a runner (and its reads at 503) until its state next changes: try
		// again, backing off, until it runs or the manager stops.
		for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
			err := m.ensure(ctx, spec, gen, gen == st.Generation)
			if err == nil {
				break
			}
			m.log.Error("a view generation cannot start; trying again",
				slog.String("view", spec.Name), slog.Uint64("generation", gen), slog.Any("error", err), slog.Duration("retry_in", wait))
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
	for _, r := range stop {
		_ = r.Stop(ctx)
		m.drop(ctx, spec.Name, r.gen)
	}
}

// ensure runs generation gen of spec, and makes it the one read when current.
func (m *Manager) ensure(ctx context.Context, spec *Spec, gen uint64, current bool) error {
	m.mu.Lock()
	v := m.views[spec.Name]
	r := v.runners[gen]
	m.mu.Unlock()
	if r == nil {
		st, err := openStore(ctx, m.js, spec.Name, gen, m.cfg.Replicas, m.cfg.TombstoneTTL)
		if err != nil {
			return err
		}
		r = newRunner(spec, gen, st, m.js, m.states, m.metrics, m.log, func(g uint64) { m.caughtUp(spec.Name, g) })
		m.mu.Lock()
		v.runners[gen] = r
		m.mu.Unlock()
		if err := r.Start(ctx); err != nil {
			return err
		}
	}
	if current {
		r.serving.Store(true)
		m.mu.Lock()
		v.read = r.st
		m.mu.Unlock()
	}
	return nil
}

// caughtUp swaps a rebuilt generation in once it has applied everything:
// compare-and-set on the view's state, so that of several nodes one swaps.
func (m *Manager) caughtUp(name string, gen uint64) {
	m.mu.Lock()
	v := m.views[name]
	rebuilding := v != nil && v.state.Rebuilding == gen
	m.mu.Unlock()
	if !rebuilding {
		return
	}
	ctx, cancel := context.WithTimeout(m.bg, 5*time.Second)
	defer cancel()
	e, err := m.states.Get(ctx, name)
	if err != nil {
		return
	}
	var st State
	if json.Unmarshal(e.Value(), &st) != nil || st.Rebuilding != gen {
		return
	}
	raw, _ := json.Marshal(State{Generation: gen})
	if _, err := m.states.Update(ctx, name, raw, e.Revision()); err == nil {
		m.log.Info("a rebuilt view is now the one read", slog.String("view", name), slog.Uint64("generation", gen))
	}
}

// drop deletes a generation no longer used: its bucket and its position.
func (m *Manager) drop(ctx context.Context, name string, gen uint64) {
	if err := m.js.DeleteKeyValue(ctx, bucketName(name, gen)); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		m.log.Warn("an old view generation could not be deleted", slog.String("view", name), slog.Uint64("generation", gen), slog.Any("error", err))
	}
	_ = m.states.Purge(ctx, positionKey(name, gen))
}

func (m *Manager) stopAll(ctx context.Context) {
	m.mu.Lock()
	var all []*runner
	for _, v := range m.views {
		for _, r := range v.runners {
			all = append(all, r)
		}
	}
	m.mu.Unlock()
	for _, r := range all {
		_ = r.Stop(ctx)
	}
}

// Rebuild starts filling a new generation of view name from every event the
// bus holds; reads keep using the current one until the new one has caught
// up, then every node swaps to it and the old one is deleted.
func (m *Manager) Rebuild(ctx context.Context, name string) (State, error) {
	if m.specs[name] == nil {
		return State{}, ErrUnknownView
	}
	if m.states == nil {
		return State{}, bus.Unavailable("rebuild", errors.New("views are not started"))
	}
	e, err := m.states.Get(ctx, name)
	if err != nil {
		return State{}, bus.Unavailable("read the state of view "+name, err)
	}
	var st State
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return State{}, fmt.Errorf("the state of view %s does not decode: %w", name, err)
	}
	if st.Rebuilding != 0 {
		return st, ErrRebuilding
	}
	// A generation number is never used twice, so that no bucket is ever
	// shared by two rebuilds: it is taken from the state's revision, which
	// only grows, and only the rebuild whose update wins uses it. (Deleting a
	// leftover bucket here instead could delete the bucket of a rebuild that
	// another call had just started.)
	next := State{Generation: st.Generation, Rebuilding: max(st.Generation, e.Revision()) + 1}
	raw, _ := json.Marshal(next)
	if _, err := m.states.Update(ctx, name, raw, e.Revision()); err != nil {
		if conflict(err) {
			return st, ErrRebuilding
		}
		return State{}, bus.Unavailable("start the rebuild of view "+name, err)
	}
	return next, nil
}

// Info describes a view for GET /v1/views.
type Info struct {
	Name  string   `json:"name"`
	Kind  string   `json:"kind"`
	Types []string `json:"types"`
	// State is "live" (caught up with the bus at least once), "catching-up"
	// or "starting".
	State string `json:"state"`
	// Lag is how many events of its types the current generation has not
	// applied yet, on this node (-1: not known yet).
	Lag        int64  `json:"lag"`
	Generation uint64 `json:"generation"`
	// Rebuilding is the rebuild in progress, or nil.
	Rebuilding *Progress `json:"rebuilding"`
}

// Progress is a rebuild's.
type Progress struct {
	Generation uint64 `json:"generation"`
	Lag        int64  `json:"lag"`
}

// List describes every view, by name.
func (m *Manager) List() []Info {
	out := make([]Info, 0, len(m.specs))
	for _, name := range slices.Sorted(maps.Keys(m.specs)) {
		i, _ := m.Info(name)
		out = append(out, i)
	}
	return out
}

// Info describes view name.
func (m *Manager) Info(name string) (Info, error) {
	spec := m.specs[name]
	if spec == nil {
		return Info{}, ErrUnknownView
	}
	i := Info{Name: name, Kind: spec.Config.Kind, Types: spec.Config.Types, State: "starting", Lag: -1}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.views[name]
	if v == nil {
		return i, nil
	}
	i.Generation = v.state.Generation
	if r := v.runners[v.state.Generation]; r != nil {
		i.Lag = r.lag.Load()
		i.State = "catching-up"
		if r.live.Load() {
			i.State = "live"
		}
	}
	if g := v.state.Rebuilding; g != 0 {
		p := &Progress{Generation: g, Lag: -1}
		if r := v.runners[g]; r != nil {
			p.Lag = r.lag.Load()
		}
		i.Rebuilding = p
	}
	return i, nil
}

// Spec is view name's compiled definition, or nil.
func (m *Manager) Spec(name string) *Spec { return m.specs[name] }

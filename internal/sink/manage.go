package sink

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
)

// Masked stands for a password in a sink's view; a definition sent back
// with it keeps the password it had.
const Masked = "********"

// View is a sink as the API shows it.
type View struct {
	// Name, Origin (config or api) and Kind (clickhouse) of the sink.
	Name   string `json:"name"`
	Origin string `json:"origin"`
	Kind   string `json:"kind"`
	// State is active or disabled; Reason says why it is disabled, Since
	// when the state was entered.
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	// Lag is how many events the bus holds for the sink that no node has
	// taken yet; InFlight how many are taken and not yet stored.
	Lag      uint64 `json:"lag"`
	InFlight int    `json:"in_flight"`
	// What this node's runners of the sink did since weir started.
	Totals
	// Spec is the definition, with the store's password masked.
	Spec config.Sink `json:"spec"`
}

// Get returns a sink's view.
func (m *Manager) Get(ctx context.Context, name string) (*View, error) {
	m.mu.Lock()
	e := m.sinks[name]
	var v *View
	if e != nil {
		v = &View{Name: name, Origin: e.origin, Kind: e.spec.Kind(), State: e.state.State, Reason: e.state.Reason,
			Since: e.state.Since, Totals: e.progress.Totals(), Spec: masked(e.spec)}
	}
	m.mu.Unlock()
	if v == nil {
		return nil, ErrNotFound
	}
	if v.State == "" {
		v.State = StateActive
	}
	if cons, err := m.js.Consumer(ctx, bus.EventsStream, ConsumerPrefix+name); err == nil {
		info := cons.CachedInfo()
		v.Lag, v.InFlight = info.NumPending, info.NumAckPending
	}
	return v, nil
}

// List returns every sink's view, by name.
func (m *Manager) List(ctx context.Context) []*View {
	out := []*View{}
	for _, name := range m.names() {
		if v, err := m.Get(ctx, name); err == nil {
			out = append(out, v)
		}
	}
	return out
}

func masked(s *config.Sink) config.Sink {
	out := *s
	if s.ClickHouse != nil {
		ch := *s.ClickHouse
		if ch.Password != "" {
			ch.Password = Masked
		}
		out.ClickHouse = &ch
	}
	return out
}

// Create adds a sink through the API (replace: or replaces one); it is
// stored in the bucket and every node runs it. A bad definition is a
// *field.Error naming the field; a bus that cannot store it is
// bus.ErrUnavailable; a sink of weir.yaml is ErrDeclaredInConfig; a
// create of a name in use is ErrExists.
func (m *Manager) Create(ctx context.Context, name string, spec *config.Sink, replace bool) error {
	if err := config.ValidSinkName(name); err != nil {
		return field.Wrap("name", err)
	}
	if _, declared := m.cfg.Sinks[name]; declared {
		return ErrDeclaredInConfig
	}
	spec.WithDefaults()
	if replace && spec.ClickHouse != nil && spec.ClickHouse.Password == Masked {
		m.mu.Lock()
		if old := m.sinks[name]; old != nil && old.spec.ClickHouse != nil {
			spec.ClickHouse.Password = old.spec.ClickHouse.Password
		}
		m.mu.Unlock()
	}
	if err := spec.Validate(""); err != nil {
		return err
	}
	if err := checkKind(m.cfg.Registry, name, spec); err != nil {
		return err
	}
	kv, err := m.bucket()
	if err != nil {
		return err
	}
	raw, _ := json.Marshal(spec)
	var rev uint64
	if replace {
		if rev, err = kv.Put(ctx, "spec."+name, raw); err != nil {
			return bus.Unavailable("storing the sink", err)
		}
	} else if rev, err = kv.Create(ctx, "spec."+name, raw); errors.Is(err, jetstream.ErrKeyExists) {
		return ErrExists
	} else if err != nil {
		return bus.Unavailable("storing the sink", err)
	}
	if !m.newer("spec."+name, rev) {
		return nil // the watcher applied this write, or a later one, already
	}
	if err := m.upsert(ctx, name, spec, OriginAPI); err != nil {
		return bus.Unavailable("starting the sink", err)
	}
	return nil
}

// bucket is the manager's bucket, once started with the bus connected.
func (m *Manager) bucket() (jetstream.KeyValue, error) {
	m.mu.Lock()
	kv := m.kv
	m.mu.Unlock()
	if kv == nil || !m.bus.Connected() {
		// At once, rather than after the bucket's request timeout.
		return nil, bus.ErrUnavailable
	}
	return kv, nil
}

// Delete removes a sink created through the API, with its consumer; what
// it loaded stays in the store.
func (m *Manager) Delete(ctx context.Context, name string) error {
	if _, declared := m.cfg.Sinks[name]; declared {
		return ErrDeclaredInConfig
	}
	kv, err := m.bucket()
	if err != nil {
		return err
	}
	if _, err := kv.Get(ctx, "spec."+name); errors.Is(err, jetstream.ErrKeyNotFound) {
		return ErrNotFound
	} else if err != nil {
		return bus.Unavailable("reading the sink", err)
	}
	if err := kv.Delete(ctx, "spec."+name); err != nil {
		return bus.Unavailable("deleting the sink", err)
	}
	_ = kv.Delete(ctx, "state."+name)
	m.remove(ctx, name)
	return nil
}

// SetState pauses (StateDisabled) or resumes (StateActive) a sink on every
// node. A pause lets each runner write the batch in hand first.
func (m *Manager) SetState(ctx context.Context, name, state, reason string) error {
	if state != StateActive && state != StateDisabled {
		return field.Errorf("state", "%q is not active or disabled", state)
	}
	m.mu.Lock()
	_, ok := m.sinks[name]
	m.mu.Unlock()
	if !ok {
		return ErrNotFound
	}
	kv, err := m.bucket()
	if err != nil {
		return err
	}
	st := State{State: state, Reason: reason, Since: time.Now().UTC()}
	raw, _ := json.Marshal(st)
	rev, err := kv.Put(ctx, "state."+name, raw)
	if err != nil {
		return bus.Unavailable("storing the sink's state", err)
	}
	if m.newer("state."+name, rev) {
		m.setState(ctx, name, st)
	}
	return nil
}

// Package delivery hands events to micro apps. Every subscription is a durable
// JetStream consumer on the EVENTS stream, so a restart resumes exactly where it
// stopped; push subscriptions are served by a worker in this process that POSTs
// signed CloudEvents with retries, a circuit breaker and dead letters, and pull
// subscriptions are read by the app through the API (long-poll or SSE).
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery/target"
	"github.com/weir-dev/weir/internal/field"
)

// SubscriptionsBucket holds subscriptions created through the API
// ("spec.<name>") and every subscription's state ("state.<name>").
const SubscriptionsBucket = "weir-subscriptions"

// consumerPrefix starts the durable consumer name of every subscription.
const consumerPrefix = "sub-"

// Errors callers decide on.
var (
	// ErrNotFound means there is no subscription of that name.
	ErrNotFound = errors.New("no such subscription")
	// ErrDeclaredInConfig means the subscription is in weir.yaml, which wins over the API.
	ErrDeclaredInConfig = errors.New("the subscription is declared in weir.yaml; change it there")
	// ErrExists means a subscription of that name already exists.
	ErrExists = errors.New("a subscription of that name already exists")
	// ErrNotCovered means a replace was refused: the stored subscription has
	// types the replacing token's roles do not cover.
	ErrNotCovered = errors.New("the stored subscription has types the token does not cover")
	// ErrOtherIncarnation means the subscription of that name is not the one
	// asked for: it was deleted and created again.
	ErrOtherIncarnation = errors.New("the subscription of that name is another one than the one asked for")
	// ErrNotPull means the subscription is push, so it cannot be fetched from.
	ErrNotPull = errors.New("the subscription delivers by push; only pull subscriptions can be fetched from")
)

// Origins of a subscription.
const (
	OriginConfig = "config"
	OriginAPI    = "api"
)

// States of a subscription.
const (
	StateActive   = "active"
	StateDisabled = "disabled"
)

// State is what weir remembers about a subscription between restarts.
type State struct {
	// State is active or disabled.
	State string `json:"state"`
	// Reason explains a disabled subscription.
	Reason string `json:"reason,omitempty"`
	// Since is when the state was entered.
	Since time.Time `json:"since"`
}

// Config are the manager's settings.
type Config struct {
	// Subscriptions declared in weir.yaml.
	Subscriptions map[string]*config.Subscription
	// Delivery is the target address policy.
	Delivery config.Delivery
	// Replicas of the streams and buckets delivery owns.
	Replicas int
	// DeadLetters keeps undeliverable events.
	DeadLetters *deadletter.Store
	// Replays bounds replay jobs and the stream they go through.
	Replays ReplayLimits
	// Archive lets replays read from the archive; nil when there is none
	// (a replay from the archive is then refused with ErrNoArchive).
	Archive ArchiveReader
	// Observer, when not nil, learns of every delivery outcome (see Observer).
	Observer Observer
}

// Manager runs every subscription of this node.
type Manager struct {
	bus      *bus.Bus
	js       jetstream.JetStream
	log      *slog.Logger
	metrics  *Metrics
	cfg      Config
	policy   *TargetPolicy
	client   *http.Client
	kv       jetstream.KeyValue
	attempts *Attempts
	dead     *deadletter.Store

	upsertMu sync.Mutex // one change of a subscription at a time (API and watcher race)
	mu       sync.Mutex
	subs     map[string]*Sub
	replays  map[string]*Replay
	archive  ArchiveReader

	replayLimits  ReplayLimits
	previewLimits previewLimits
	now           func() time.Time // replay jobs' clock; tests move it

	life    sync.Mutex // guards started, stopped and cancel
	started bool
	stopped bool
	ctx     context.Context // the background context, cancelled by Stop
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	// policy and client serve weir.yaml's and admin tokens' subscriptions;
	// untrusted and its client those that tokens without admin created.
	untrusted       *TargetPolicy
	untrustedClient *http.Client
}

// New builds a manager; Start makes it run.
func New(b *bus.Bus, cfg Config, m *Metrics, log *slog.Logger) (*Manager, error) {
	policy, err := checkConfig(cfg.Delivery, cfg.Subscriptions)
	if err != nil {
		return nil, err
	}
	m.observer = cfg.Observer
	mgr := &Manager{
		bus: b, js: b.JetStream(), log: log, metrics: m, cfg: cfg, policy: policy,
		client: &http.Client{Transport: policy.Transport(), CheckRedirect: noRedirects},
		subs:   map[string]*Sub{}, replays: map[string]*Replay{},
		replayLimits: cfg.Replays.WithDefaults(), previewLimits: defaultPreviewLimits, now: time.Now, archive: cfg.Archive,
	}
	// A transport of its own: an idle connection that a trusted subscription
	// opened to a private address is never lent to an untrusted one.
	mgr.untrusted = policy.ForUntrusted()
	mgr.untrustedClient = &http.Client{Transport: mgr.untrusted.Transport(), CheckRedirect: noRedirects}
	if err := m.reg.Register(lagCollector{mgr}); err != nil {
		return nil, fmt.Errorf("delivery: register the lag metrics (one Metrics serves one manager): %w", err)
	}
	return mgr, nil
}

// CheckConfig reports what New would refuse in weir.yaml's delivery policy
// and subscriptions (a filter that does not compile, a push URL the policy
// denies), so that weir serve can refuse the file before it creates anything.
func CheckConfig(d config.Delivery, subs map[string]*config.Subscription) error {
	_, err := checkConfig(d, subs)
	return err
}

func checkConfig(d config.Delivery, subs map[string]*config.Subscription) (*TargetPolicy, error) {
	policy, err := target.New(d.Allow, d.Deny)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(subs)) {
		if err := checkSpec(policy, subs[name]); err != nil {
			return nil, fmt.Errorf("subscriptions.%s.%w", name, err)
		}
	}
	return policy, nil
}

// noRedirects keeps a delivery on the URL the policy checked: a redirect is an
// answer (3xx), retried like any other failure.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// checkSpec checks what config validation cannot: the filter compiles and the
// push URL is allowed. Errors are *field.Error: for filter, or for push.url
// wrapping ErrTargetDenied.
func checkSpec(policy *TargetPolicy, s *config.Subscription) error {
	if _, err := CompileFilter(s.Filter); err != nil {
		return err // a *field.Error for filter
	}
	if s.Push != nil {
		if err := policy.CheckURL(s.Push.URL); err != nil {
			return field.Wrap("push.url", err)
		}
	}
	return nil
}

// ErrStarted means Start was called on a manager that was already started or
// stopped.
var ErrStarted = errors.New("delivery: the manager was already started")

// Start creates delivery's streams and buckets, reconciles the bus's consumers
// with the subscriptions (a subscription removed from weir.yaml loses its
// consumer), starts the push workers and follows API changes made on any node.
// ctx bounds the start-up only: workers run under a context the manager owns
// (keeping ctx's values) and cancels in Stop. A manager starts once: a second
// Start, or a Start after Stop, returns ErrStarted. When Start fails, Stop
// still ends what it started.
func (m *Manager) Start(ctx context.Context) error {
	m.life.Lock()
	if m.started || m.stopped {
		m.life.Unlock()
		return ErrStarted
	}
	m.started = true
	m.life.Unlock()
	var err error
	if m.attempts, err = openAttempts(ctx, m.js, m.cfg.Delivery.AttemptsMaxAge, m.cfg.Replicas); err != nil {
		return err
	}
	m.dead = m.cfg.DeadLetters
	m.kv, err = m.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      SubscriptionsBucket,
		Description: "weir: subscriptions created through the API, and every subscription's state",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    m.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", SubscriptionsBucket, err)
	}
	if err := openReplays(ctx, m.js, m.replayLimits, m.cfg.Replicas); err != nil {
		return err
	}
	m.life.Lock()
	if m.stopped { // Stop came while the stores were opening
		m.life.Unlock()
		return ErrStarted
	}
	m.ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	m.life.Unlock()

	want := map[string]bool{}
	for name, spec := range m.cfg.Subscriptions {
		want[name] = true
		st := &storedSpec{Subscription: *spec, UID: configUID(name), Trusted: true}
		if err := m.upsert(ctx, name, st, OriginConfig); err != nil {
			return fmt.Errorf("subscriptions.%s: %w", name, err)
		}
	}
	apiSpecs, err := m.apiSpecs(ctx)
	if err != nil {
		return err
	}
	for name, spec := range apiSpecs {
		if want[name] {
			continue // weir.yaml wins
		}
		want[name] = true
		if err := m.upsert(ctx, name, spec, OriginAPI); err != nil {
			m.log.ErrorContext(ctx, "subscription not started", slog.String("subscription", name), slog.Any("error", err))
		}
	}
	// A subscription that is no longer declared anywhere loses its consumer.
	names := m.bus.Events().ConsumerNames(ctx)
	for c := range names.Name() {
		name, ok := strings.CutPrefix(c, consumerPrefix)
		if ok && !want[name] {
			if err := m.js.DeleteConsumer(ctx, bus.EventsStream, c); err == nil {
				m.log.InfoContext(ctx, "removed the consumer of a subscription no longer declared", slog.String("subscription", name))
			}
		}
	}
	if err := names.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return err
	}
	if err := m.dropUndeclaredReplays(ctx, want); err != nil {
		return err
	}
	m.wg.Go(m.follow)
	return nil
}

// Stop ends every worker and waits for them; deliveries in flight finish or are
// left unacked, to be delivered again after a restart. If ctx ends first, Stop
// returns ctx's error without waiting further (the workers are cancelled and
// end on their own). It is safe to call more than once, and before Start (then
// Start can no longer start it).
func (m *Manager) Stop(ctx context.Context) error {
	m.life.Lock()
	m.stopped = true
	cancel := m.cancel
	m.life.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.stopWorkers()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopWorkers ends every subscription's worker and waits for every goroutine
// the manager started.
func (m *Manager) stopWorkers() {
	m.mu.Lock()
	subs := make([]*Sub, 0, len(m.subs))
	for _, s := range m.subs {
		subs = append(subs, s)
	}
	m.mu.Unlock()
	for _, s := range subs {
		s.stop()
	}
	m.wg.Wait()
}

func (m *Manager) apiSpecs(ctx context.Context) (map[string]*storedSpec, error) {
	out := map[string]*storedSpec{}
	lister, err := m.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	for k := range lister.Keys() {
		name, ok := strings.CutPrefix(k, "spec.")
		if !ok {
			continue
		}
		e, err := m.kv.Get(ctx, k)
		if err != nil {
			m.log.ErrorContext(ctx, "stored subscription unreadable", slog.String("subscription", name), slog.String("key", k), slog.Any("error", err))
			continue
		}
		if st, err := m.readStored(ctx, e); err == nil {
			out[name] = st
		} else {
			m.log.ErrorContext(ctx, "stored subscription unreadable", slog.String("subscription", name), slog.String("key", k), slog.Any("error", err))
		}
	}
	return out, nil
}

// follow applies API changes made on any node: subscriptions created, replaced
// or deleted, and states changed.
func (m *Manager) follow() {
	w, err := m.kv.WatchAll(m.ctx, jetstream.UpdatesOnly())
	if err != nil {
		m.log.Error("cannot follow subscription changes", slog.Any("error", err))
		return
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-m.ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue
			}
			m.apply(e)
		}
	}
}

func (m *Manager) apply(e jetstream.KeyValueEntry) {
	kind, name, _ := strings.Cut(e.Key(), ".")
	deleted := e.Operation() != jetstream.KeyValuePut
	switch kind {
	case "spec":
		if _, declared := m.cfg.Subscriptions[name]; declared {
			return
		}
		if deleted {
			m.remove(name)
			return
		}
		st, err := m.readStored(m.ctx, e)
		if err != nil {
			m.log.Error("stored subscription unreadable", slog.String("subscription", name), slog.String("key", e.Key()), slog.Any("error", err))
			return
		}
		if err := m.upsert(m.ctx, name, st, OriginAPI); err != nil {
			m.log.Error("subscription not applied", slog.String("subscription", name), slog.Any("error", err))
		}
	case "state":
		if deleted {
			return
		}
		var st State
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			m.log.Error("subscription state unreadable; the subscription keeps its current state", slog.String("subscription", name), slog.String("key", e.Key()), slog.Any("error", err))
			return
		}
		m.mu.Lock()
		s := m.subs[name]
		m.mu.Unlock()
		if s != nil {
			s.setState(st)
		}
	}
}

// upsert creates or updates a subscription's consumer and (re)starts its worker.
func (m *Manager) upsert(ctx context.Context, name string, stored *storedSpec, origin string) error {
	m.upsertMu.Lock()
	defer m.upsertMu.Unlock()
	spec := &stored.Subscription
	spec.WithDefaults()
	if err := spec.Validate(name); err != nil {
		return err
	}
	filter, err := CompileFilter(spec.Filter)
	if err != nil {
		return err
	}
	// Who made it and which incarnation it is count as a change too.
	raw, _ := json.Marshal(stored)
	m.mu.Lock()
	old := m.subs[name]
	m.mu.Unlock()
	if old != nil && old.specJSON == string(raw) {
		return nil
	}
	cc := consumerConfig(name, spec)
	// start only says where a new subscription begins; an existing consumer keeps
	// its position (the bus refuses to change it anyway).
	if existing, err := m.js.Consumer(ctx, bus.EventsStream, cc.Durable); err == nil {
		info := existing.CachedInfo()
		cc.DeliverPolicy, cc.OptStartSeq, cc.OptStartTime = info.Config.DeliverPolicy, info.Config.OptStartSeq, info.Config.OptStartTime
	}
	cons, err := m.js.CreateOrUpdateConsumer(ctx, bus.EventsStream, cc)
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	rcons, err := m.js.CreateOrUpdateConsumer(ctx, ReplaysStream, replayConsumerConfig(name, cc))
	if err != nil {
		return fmt.Errorf("replay consumer: %w", err)
	}
	st := State{State: StateActive}
	if e, err := m.kv.Get(ctx, "state."+name); err == nil {
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			m.log.ErrorContext(ctx, "subscription state unreadable", slog.String("subscription", name), slog.String("key", e.Key()), slog.Any("error", err))
		}
	}
	s := newSub(m, name, stored, string(raw), origin, filter, cons, rcons, st)
	if old != nil {
		old.stop()
	}
	m.mu.Lock()
	m.subs[name] = s
	m.mu.Unlock()
	s.start()
	return nil
}

func (m *Manager) remove(name string) {
	m.upsertMu.Lock()
	defer m.upsertMu.Unlock()
	m.mu.Lock()
	s := m.subs[name]
	delete(m.subs, name)
	m.mu.Unlock()
	if s != nil {
		s.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.cancelReplays(ctx, name)
	_ = m.js.DeleteConsumer(ctx, bus.EventsStream, consumerPrefix+name)
	m.dropReplays(ctx, name)
}

// consumerConfig is the durable consumer behind a subscription.
func consumerConfig(name string, spec *config.Subscription) jetstream.ConsumerConfig {
	filters := eventFilters(spec)
	// Redrives and replays for this subscription alone.
	filters = append(filters, bus.DirectPrefix+name+".>")
	c := jetstream.ConsumerConfig{
		Durable:        consumerPrefix + name,
		Description:    "weir subscription " + name,
		FilterSubjects: filters,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		// weir counts attempts itself and turns the last failure into a dead
		// letter, so the server never gives up on its own.
		MaxDeliver: -1,
	}
	if spec.Start == "all" {
		c.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	if p := spec.Push; p != nil {
		c.AckWait = p.Timeout.D() + 30*time.Second
		// Concurrency is bounded by the worker (max_in_flight per node). The bus's
		// own limit is larger: events waiting for a delayed retry count as pending
		// there, and must not stop new events from being delivered meanwhile.
		c.MaxAckPending = 10000
	} else {
		c.AckWait = spec.Pull.AckWait.D()
		c.MaxAckPending = 10000
	}
	return c
}

// Get returns a subscription's view for the API.
func (m *Manager) Get(ctx context.Context, name string) (*View, error) {
	m.mu.Lock()
	s := m.subs[name]
	m.mu.Unlock()
	if s == nil {
		return nil, ErrNotFound
	}
	return s.view(ctx), nil
}

// List returns every subscription's view, by name.
func (m *Manager) List(ctx context.Context) []*View {
	m.mu.Lock()
	subs := make([]*Sub, 0, len(m.subs))
	for _, s := range m.subs {
		subs = append(subs, s)
	}
	m.mu.Unlock()
	slices.SortFunc(subs, func(a, b *Sub) int { return strings.Compare(a.name, b.name) })
	out := make([]*View, 0, len(subs))
	for _, s := range subs {
		out = append(out, s.view(ctx))
	}
	return out
}

// Create adds a subscription through the API; it is stored in the bucket, with
// who made it, and every node starts it. A new name gets a new UID; replacing
// keeps the UID the stored definition has. A bad definition is a *field.Error
// naming the field (a push URL that by's policy refuses is one for push.url
// wrapping ErrTargetDenied); a bus that cannot store it is bus.ErrUnavailable.
func (m *Manager) Create(ctx context.Context, name string, spec *config.Subscription, replace bool, by Creator) error {
	if err := config.ValidSubscriptionName(name); err != nil {
		return field.Wrap("name", err)
	}
	if _, declared := m.cfg.Subscriptions[name]; declared {
		return ErrDeclaredInConfig
	}
	spec.WithDefaults()
	if replace {
		// The API shows secrets masked; a definition sent back as it was read
		// keeps the secret it had.
		if old, err := m.sub(name); err == nil && spec.Push != nil && old.spec.Push != nil && spec.Push.Secret == maskedSecret {
			spec.Push.Secret = old.spec.Push.Secret
		}
	}
	if err := spec.Validate(""); err != nil {
		return err
	}
	policy := m.policy
	if !by.Trusted {
		policy = m.untrusted
	}
	if err := checkSpec(policy, spec); err != nil {
		return err
	}
	if !m.bus.Connected() {
		// At once, rather than after the bucket's request timeout.
		return bus.ErrUnavailable
	}
	stored := &storedSpec{Subscription: *spec, Trusted: by.Trusted, CreatedBy: by.Token}
	if replace {
		// The stored definition decides, not this node's copy: another
		// node's change may not have reached it yet, or it failed to start
		// here.
		if old, ok := m.storedSpec(ctx, name); ok {
			if by.Covers != nil && !by.Covers(old.Types) {
				return ErrNotCovered
			}
			stored.UID = old.UID
		}
	}
	if stored.UID == "" {
		stored.UID = newUID()
	}
	raw, _ := json.Marshal(stored)
	if replace {
		if _, err := m.kv.Put(ctx, "spec."+name, raw); err != nil {
			return bus.Unavailable("storing the subscription", err)
		}
	} else if _, err := m.kv.Create(ctx, "spec."+name, raw); errors.Is(err, jetstream.ErrKeyExists) {
		return ErrExists
	} else if err != nil {
		return bus.Unavailable("storing the subscription", err)
	}
	if err := m.upsert(ctx, name, stored, OriginAPI); err != nil {
		// The definition was checked above: what fails now is the consumer.
		return bus.Unavailable("creating the subscription's consumer", err)
	}
	return nil
}

// Delete removes a subscription created through the API, with its consumer.
func (m *Manager) Delete(ctx context.Context, name string) error {
	if _, declared := m.cfg.Subscriptions[name]; declared {
		return ErrDeclaredInConfig
	}
	if _, err := m.kv.Get(ctx, "spec."+name); errors.Is(err, jetstream.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err := m.kv.Delete(ctx, "spec."+name); err != nil {
		return err
	}
	_ = m.kv.Delete(ctx, "state."+name)
	m.remove(name)
	return nil
}

// SetState enables or disables a subscription on every node.
func (m *Manager) SetState(ctx context.Context, name, state, reason string) error {
	m.mu.Lock()
	s := m.subs[name]
	m.mu.Unlock()
	if s == nil {
		return ErrNotFound
	}
	st := State{State: state, Reason: reason, Since: time.Now().UTC()}
	raw, _ := json.Marshal(st)
	if _, err := m.kv.Put(ctx, "state."+name, raw); err != nil {
		return err
	}
	s.setState(st)
	return nil
}

// Attempts queries delivery attempts of the subscription that runs under the
// name now: those an earlier subscription of the same name made are left out.
func (m *Manager) Attempts(ctx context.Context, q Query) ([]deadletter.Attempt, error) {
	s, err := m.sub(q.Subscription)
	if err != nil {
		return nil, err
	}
	q.UID = s.uid
	return m.attempts.List(ctx, q)
}

// DeadLetters is the dead-letter store.
func (m *Manager) DeadLetters() *deadletter.Store { return m.dead }

// sub returns a running subscription.
func (m *Manager) sub(name string) (*Sub, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.subs[name]
	if s == nil {
		return nil, ErrNotFound
	}
	return s, nil
}

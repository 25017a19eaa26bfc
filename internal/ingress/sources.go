package ingress

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
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/lifecycle"
)

// SourcesBucket is the key-value bucket holding the sources created through
// the API, one key per source name. Its values hold the sources' signing
// secrets in clear, since weir needs them to check every request: whoever
// can read the bus can read them.
const SourcesBucket = "WEIR_SOURCES"

// DefaultMaxSources bounds the sources the API may create.
const DefaultMaxSources = 1000

// Errors of the Sources service; callers decide the answer with errors.Is.
var (
	// ErrSourceNotFound: no source has that name.
	ErrSourceNotFound = errors.New("ingress: no such source")
	// ErrSourceDeclaredInConfig: the source is declared in weir.yaml, which
	// owns it; change it there.
	ErrSourceDeclaredInConfig = errors.New("ingress: the source is declared in weir.yaml")
	// ErrSourceExists: a source of that name exists already.
	ErrSourceExists = errors.New("ingress: a source of that name exists")
	// ErrTooManySources: the API created as many sources as it may.
	ErrTooManySources = errors.New("ingress: too many sources")
	// ErrSourceChanged: the source changed on another node during a replace.
	ErrSourceChanged = errors.New("ingress: the source changed meanwhile")
	// ErrSourcesStarted: Start was called twice, or after Stop.
	ErrSourcesStarted = errors.New("ingress: the sources were already started")
)

// SourceError is a refusal of the Sources service: Kind is one of the
// sentinels above (errors.Is finds it), Detail a sentence a person can act on.
type SourceError struct {
	Kind   error
	Detail string
}

// Error returns the detail.
func (e *SourceError) Error() string { return e.Detail }

// Unwrap returns the kind.
func (e *SourceError) Unwrap() error { return e.Kind }

func refuse(kind error, format string, args ...any) error {
	return &SourceError{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// SourcesConfig are the settings of the Sources service.
type SourcesConfig struct {
	// Config is weir.yaml: its sources are read-only, and its ingress and
	// policy settings give the defaults and rules of every source.
	Config *config.Config
	// Set is what POST /in/{source} serves; the service keeps it current.
	Set *SourceSet
	// PublicURL prefixes the URL a sender is given (http://host:port).
	PublicURL string
	// MaxDedupeWindow is the longest de-duplication window the bus keeps; an
	// API source may not ask for more.
	MaxDedupeWindow time.Duration
	// MaxSources bounds the sources created through the API (default
	// DefaultMaxSources). Each node checks it against what it has seen, so
	// nodes creating at the same moment may pass it by a few.
	MaxSources int
	// Requests, when set, forgets a deleted source's request log.
	Requests *RequestLog
}

// storedSource is one API source in the bucket.
type storedSource struct {
	Spec      SourceSpec `json:"spec"` // with its secrets
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	rev       uint64
}

// Sources lists, creates, replaces and deletes webhook sources. Those in
// weir.yaml are read-only; those created here live in SourcesBucket, so that
// they survive a restart and every node serves them: each node follows the
// bucket and updates its SourceSet, and a new source takes requests without
// a restart. The API and the portal both call it, so both follow one set of
// rules. It is safe for concurrent use.
type Sources struct {
	js  jetstream.JetStream
	cfg SourcesConfig
	log *slog.Logger
	kv  jetstream.KeyValue // set by Start

	mu      sync.RWMutex
	api     map[string]*storedSource
	changed chan struct{} // closed and replaced on every change

	life lifecycle.Once
}

// NewSources prepares the service over js; Start opens its bucket.
func NewSources(js jetstream.JetStream, cfg SourcesConfig, log *slog.Logger) *Sources {
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = DefaultMaxSources
	}
	return &Sources{js: js, cfg: cfg, log: log, api: map[string]*storedSource{}, changed: make(chan struct{})}
}

// Start creates the bucket, serves every source in it, and follows changes
// made on any node until Stop. ctx bounds the start-up only.
func (s *Sources) Start(ctx context.Context) error {
	return s.life.Start(ctx, ErrSourcesStarted, func(bg context.Context) (func(), error) {
		kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      SourcesBucket,
			Description: "weir: webhook sources created through the API, with their signing secrets",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    s.cfg.Config.Bus.Replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", SourcesBucket, err)
		}
		s.kv = kv
		w, err := kv.WatchAll(bg)
		if err != nil {
			return nil, fmt.Errorf("watch bucket %s: %w", SourcesBucket, err)
		}
		return bus.FollowKV(ctx, bg, w, s.apply)
	})
}

// Stop stops following changes and waits for the follower, or until ctx
// ends. Sources already served keep being served.
func (s *Sources) Stop(ctx context.Context) error { return s.life.Stop(ctx) }

// apply takes one change from the bucket into the served set.
func (s *Sources) apply(e jetstream.KeyValueEntry) {
	name := e.Key()
	defer s.notify()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.api[name]; ok && old.rev >= e.Revision() {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		delete(s.api, name)
		s.cfg.Set.remove(name)
		return
	}
	if _, declared := s.cfg.Config.Sources[name]; declared {
		s.log.Warn("a source created through the API is now declared in weir.yaml too; the declared one is served", slog.String("source", name))
		return
	}
	var st storedSource
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		s.log.Error("a source in the bucket cannot be read; it is not served", slog.String("source", name), slog.Any("error", err))
		return
	}
	st.rev = e.Revision()
	src, err := s.compile(name, st.Spec)
	if err != nil {
		// weir.yaml may have changed since (bus.max_payload ...): say why the
		// source stopped, and keep it listed so it can be replaced.
		s.log.Error("a source created through the API no longer passes validation; it is not served", slog.String("source", name), slog.Any("error", err))
		s.cfg.Set.remove(name)
	} else {
		s.cfg.Set.put(src)
	}
	s.api[name] = &st
}

func (s *Sources) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// compile checks spec by the rules of weir.yaml, with the API's own bounds.
func (s *Sources) compile(name string, spec SourceSpec) (*Source, error) {
	if err := spec.bound(); err != nil {
		return nil, err
	}
	c := s.cfg.Config.SourceDefaults(spec.config())
	if err := s.cfg.Config.ValidateSource(name, c); err != nil {
		return nil, err
	}
	if s.cfg.MaxDedupeWindow > 0 && c.DedupeWindow > s.cfg.MaxDedupeWindow {
		return nil, field.Errorf("dedupe_window", "%s is longer than the bus keeps delivery ids (%s, the longest of ingress.dedupe_window and weir.yaml's sources)",
			c.DedupeWindow, s.cfg.MaxDedupeWindow)
	}
	return compileSource(name, c)
}

// List returns every source, by name: weir.yaml's and the API's.
func (s *Sources) List() []SourceView {
	s.mu.RLock()
	names := slices.Collect(maps.Keys(s.api))
	s.mu.RUnlock()
	for n := range s.cfg.Config.Sources {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := make([]SourceView, 0, len(names))
	for _, n := range names {
		if v, err := s.Get(n); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// Get returns the source named name, or ErrSourceNotFound.
func (s *Sources) Get(name string) (SourceView, error) {
	if c, ok := s.cfg.Config.Sources[name]; ok {
		return SourceView{SourceSpec: specOf(name, c), Owner: OwnerConfig, URL: s.url(name)}, nil
	}
	s.mu.RLock()
	st, ok := s.api[name]
	s.mu.RUnlock()
	if !ok {
		return SourceView{}, refuse(ErrSourceNotFound, "there is no source named %q", name)
	}
	return s.view(name, st), nil
}

func (s *Sources) view(name string, st *storedSource) SourceView {
	spec := st.Spec
	spec.Name = name
	spec.Verify.Secrets = nil
	return SourceView{SourceSpec: spec, Owner: OwnerAPI, URL: s.url(name),
		CreatedBy: st.CreatedBy, CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt}
}

func (s *Sources) url(name string) string {
	return strings.TrimSuffix(s.cfg.PublicURL, "/") + "/in/" + name
}

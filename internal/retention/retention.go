// Package retention applies weir's retention policy to the EVENTS stream: how
// long events are kept, by type pattern. JetStream limits a stream as a whole,
// so the stream keeps events for the longest age of any rule, and a sweeper
// purges, subject by subject, what a shorter rule no longer keeps. Stream
// sequences grow with time, so "older than the cutoff" is "below the first
// sequence stored at the cutoff", which JetStream purges per subject in one call.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/lifecycle"

	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/field"

	"github.com/weir-dev/weir/internal/bus"
)

// Rule keeps the events of types matching Pattern for MaxAge.
type Rule struct {
	// Pattern over event types (NATS wildcards: "*" one segment, ">" the rest).
	Pattern string `json:"pattern" yaml:"pattern"`
	// MaxAge is how long those events are kept.
	MaxAge time.Duration `json:"max_age" yaml:"max_age"`
}

// Policy is the whole retention policy.
type Policy struct {
	// MaxAge keeps events no rule matches. Default 168h (7 days).
	MaxAge time.Duration `json:"max_age" yaml:"max_age"`
	// MaxBytes bounds the whole stream (oldest events go first); 0 is no bound.
	MaxBytes int64 `json:"max_bytes,omitempty" yaml:"max_bytes"`
	// Rules apply in order; the first that matches a type decides.
	Rules []Rule `json:"rules,omitempty" yaml:"rules"`
}

// Validate names the first bad field: the error is a *field.Error.
func (p Policy) Validate() error {
	if p.MaxAge <= 0 {
		return field.Errorf("max_age", "must be positive")
	}
	if p.MaxBytes < 0 {
		return field.Errorf("max_bytes", "must not be negative")
	}
	for i, r := range p.Rules {
		if r.Pattern == "" {
			return field.Errorf(fmt.Sprintf("rules[%d].pattern", i), "required")
		}
		if r.MaxAge <= 0 {
			return field.Errorf(fmt.Sprintf("rules[%d].max_age", i), "must be positive")
		}
	}
	return nil
}

// longest is the age the stream itself keeps.
func (p Policy) longest() time.Duration {
	m := p.MaxAge
	for _, r := range p.Rules {
		m = max(m, r.MaxAge)
	}
	return m
}

// AgeOf is how long events of type typ are kept.
func (p Policy) AgeOf(typ string) time.Duration {
	for _, r := range p.Rules {
		if event.MatchType(r.Pattern, typ) {
			return r.MaxAge
		}
	}
	return p.MaxAge
}

// Keeper applies a policy and sweeps what it no longer keeps.
type Keeper struct {
	js     jetstream.JetStream
	log    *slog.Logger
	every  time.Duration
	mu     sync.Mutex
	policy Policy
	wake   chan struct{}

	life lifecycle.Once
}

// New builds a keeper that sweeps every interval.
func New(js jetstream.JetStream, every time.Duration, log *slog.Logger) *Keeper {
	return &Keeper{js: js, log: log, every: every, wake: make(chan struct{}, 1)}
}

// Policy is the policy in force.
func (k *Keeper) Policy() Policy {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.policy
}

// Apply puts p in force at once: the stream's limits change live (nothing
// inside the new limits is lost) and a sweep follows.
func (k *Keeper) Apply(ctx context.Context, p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	s, err := k.js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return err
	}
	cfg := s.CachedInfo().Config
	cfg.MaxAge = p.longest()
	cfg.MaxBytes = p.MaxBytes
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = -1
	}
	if _, err := k.js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("update stream %s: %w", bus.EventsStream, err)
	}
	k.mu.Lock()
	k.policy = p
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
	return nil
}

// ErrStarted means Start was called on a keeper that was already started or
// stopped.
var ErrStarted = errors.New("retention: the keeper was already started")

// Start runs the sweeper in the background until Stop. ctx bounds the
// start-up only: the sweeper runs under a context the keeper owns (keeping
// ctx's values) and cancels in Stop. A keeper starts once: a second Start, or
// a Start after Stop, returns ErrStarted.
func (k *Keeper) Start(ctx context.Context) error {
	return k.life.Start(ctx, ErrStarted, func(bg context.Context) (func(), error) {
		return func() {
			t := time.NewTicker(k.every)
			defer t.Stop()
			for {
				if err := k.Sweep(bg); err != nil && bg.Err() == nil {
					k.log.WarnContext(bg, "retention sweep failed", slog.Any("error", err))
				}
				select {
				case <-bg.Done():
					return
				case <-t.C:
				case <-k.wake:
				}
			}
		}, nil
	})
}

// Stop ends the sweeper (a sweep in progress is cancelled) and waits for it,
// or until ctx ends, then returns ctx's error. It is safe to call more than
// once, and before Start (then Start can no longer start it).
func (k *Keeper) Stop(ctx context.Context) error { return k.life.Stop(ctx) }

// Sweep purges, for every type kept shorter than the stream keeps, the events
// older than that type's age. It returns when done.
func (k *Keeper) Sweep(ctx context.Context) error {
	p := k.Policy()
	longest := p.longest()
	s, err := k.js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(bus.EventsPrefix+">"))
	if err != nil {
		return err
	}
	now := time.Now()
	cutoffs := map[time.Duration]uint64{}
	for subject := range info.State.Subjects {
		typ := strings.TrimPrefix(subject, bus.EventsPrefix)
		age := p.AgeOf(typ)
		if age >= longest {
			continue // the stream's own MaxAge does it
		}
		seq, ok := cutoffs[age]
		if !ok {
			if seq, err = firstSeqAt(ctx, k.js, now.Add(-age)); err != nil {
				return err
			}
			cutoffs[age] = seq
		}
		if seq <= 1 {
			continue
		}
		if err := s.Purge(ctx, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeSequence(seq)); err != nil {
			return fmt.Errorf("purge %s: %w", subject, err)
		}
	}
	return nil
}

// firstSeqAt is the first stream sequence stored at or after t (one past the
// last when nothing is that new).
func firstSeqAt(ctx context.Context, js jetstream.JetStream, t time.Time) (uint64, error) {
	c, err := js.OrderedConsumer(ctx, bus.EventsStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &t,
	})
	if err != nil {
		return 0, err
	}
	batch, err := c.FetchNoWait(1)
	if err != nil {
		return 0, err
	}
	for m := range batch.Messages() {
		meta, err := m.Metadata()
		if err != nil {
			return 0, err
		}
		return meta.Sequence.Stream, nil
	}
	s, err := js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq + 1, nil
}

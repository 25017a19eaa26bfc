package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"golang.org/x/time/rate"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/field"
)

// Redeliver hands one event (its CloudEvent JSON) to one subscription again,
// through the subscription's own consumer: it is published on
// direct.<subscription>.<type>, which only that subscription reads, and then
// takes the same path as live events (filter, signing, retries, dead letters).
// key, when set, de-duplicates repeated calls within the bus's window.
func (m *Manager) Redeliver(ctx context.Context, name, uid, typ, id string, event []byte, key string) error {
	s, err := m.sub(name)
	if err != nil {
		return err
	}
	if uid != "" && s.uid != uid {
		return ErrOtherIncarnation
	}
	msg := nats.NewMsg(bus.DirectPrefix + name + "." + typ)
	msg.Header.Set(bus.HeaderEventID, id)
	msg.Header.Set(bus.HeaderEventType, typ)
	msg.Header.Set("Content-Type", "application/cloudevents+json")
	msg.Data = event
	_, err = m.bus.Publish(ctx, msg, key)
	return err
}

// Replay states.
const (
	ReplayRunning   = "running"
	ReplayDone      = "done"
	ReplayCancelled = "cancelled"
	ReplayFailed    = "failed"
)

// ReplayRequest says what history to deliver again.
type ReplayRequest struct {
	// From is the first event's time, or FromSeq its stream sequence.
	From    time.Time `json:"from,omitzero"`
	FromSeq uint64    `json:"from_seq,omitempty"`
	// To ends the range (exclusive); zero means the moment the replay started,
	// so that a replay never chases live traffic (which flows anyway).
	To    time.Time `json:"to,omitzero"`
	ToSeq uint64    `json:"to_seq,omitempty"`
	// Rate bounds events per second, so live traffic is not starved. Default 500.
	Rate int `json:"rate,omitempty"`
	// FromArchive reads the range from the archive instead of the bus, for
	// history older than the bus keeps.
	FromArchive bool `json:"from_archive,omitempty"`
}

// Replay is a replay job and its progress.
type Replay struct {
	ID           string        `json:"id"`
	Subscription string        `json:"subscription"`
	Request      ReplayRequest `json:"request"`
	State        string        `json:"state"`
	Replayed     int64         `json:"replayed"`
	Scanned      int64         `json:"scanned"`
	Error        string        `json:"error,omitempty"`
	StartedAt    time.Time     `json:"started_at"`
	FinishedAt   time.Time     `json:"finished_at,omitzero"`

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{} // closed when the job has ended
	types  []string      // the subscription's types when the replay started
	uid    string        // the subscription's incarnation it replays to
}

func (r *Replay) snapshot() *Replay {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &Replay{ID: r.ID, Subscription: r.Subscription, Request: r.Request, State: r.State, Replayed: r.Replayed,
		Scanned: r.Scanned, Error: r.Error, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, types: r.types, uid: r.uid}
}

// Types are the event type patterns the subscription had when the replay
// started: what a token must cover to see the replay once the subscription is
// gone.
func (r *Replay) Types() []string { return slices.Clone(r.types) }

// SubscriptionUID is the incarnation of the subscription the replay was
// started for; a subscription created later under the same name is another.
func (r *Replay) SubscriptionUID() string { return r.uid }

func (r *Replay) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.State == ReplayRunning
}

// ArchiveReader reads archived events of a time range, oldest first.
type ArchiveReader func(ctx context.Context, from, to time.Time, patterns []string, fn func(typ, id string, event []byte) error) error

// ErrNoArchive means a replay from the archive was asked for, but no archive is configured.
var ErrNoArchive = errors.New("no archive is configured")

// ErrTooManyReplays means a replay cap is reached: the subscription's or the
// node's (see ReplayLimits). A place frees up when a running replay ends.
var ErrTooManyReplays = errors.New("too many replays are running")

// ReplayLimits bound replays on one node. Zero fields take the defaults.
type ReplayLimits struct {
	// PerSubscription bounds the replays running at once for one subscription.
	// Default 2.
	PerSubscription int
	// Total bounds the replays running at once. Default 8.
	Total int
	// KeepFor is how long a finished replay stays readable. Default 24h.
	KeepFor time.Duration
	// KeepLast bounds how many finished replays are kept; the oldest go first.
	// Default 100.
	KeepLast int
	// Window is how many replayed events may wait for one subscription in
	// ReplaysStream. Default DefaultReplayWindow.
	Window int
	// MaxBytes bounds ReplaysStream. Default DefaultReplayMaxBytes.
	MaxBytes int64
	// MaxAge bounds how long a replayed event waits in ReplaysStream. Default
	// DefaultReplayMaxAge.
	MaxAge time.Duration
}

// WithDefaults fills the zero fields.
func (l ReplayLimits) WithDefaults() ReplayLimits {
	if l.PerSubscription <= 0 {
		l.PerSubscription = 2
	}
	if l.Total <= 0 {
		l.Total = 8
	}
	if l.KeepFor <= 0 {
		l.KeepFor = 24 * time.Hour
	}
	if l.KeepLast <= 0 {
		l.KeepLast = 100
	}
	if l.Window <= 0 {
		l.Window = DefaultReplayWindow
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultReplayMaxBytes
	}
	if l.MaxAge <= 0 {
		l.MaxAge = DefaultReplayMaxAge
	}
	return l
}

// StartReplay delivers a range of history again to a subscription, alongside
// its live events, at a bounded rate. The events go through ReplaysStream,
// which the subscription reads besides its own consumer, so EVENTS never
// holds a copy. The job runs on this node; its progress is read with Replay
// and it stops early with CancelReplay. Bad requests are *field.Error naming
// the request field (from, to, or from_archive wrapping ErrNoArchive); a cap
// reached is ErrTooManyReplays.
func (m *Manager) StartReplay(name string, req ReplayRequest) (*Replay, error) {
	s, err := m.sub(name)
	if err != nil {
		return nil, err
	}
	if req.From.IsZero() && req.FromSeq == 0 {
		return nil, field.Errorf("from", "give a time (from) or a stream sequence (from_seq)")
	}
	if req.FromArchive && m.archive == nil {
		return nil, field.Wrap("from_archive", ErrNoArchive)
	}
	if req.FromArchive && req.From.IsZero() {
		return nil, field.Errorf("from", "a replay from the archive needs a time")
	}
	if req.Rate <= 0 {
		req.Rate = 500
	}
	now := m.now().UTC()
	if req.To.IsZero() && req.ToSeq == 0 {
		req.To = time.Now().UTC() // the bus's time, whatever the jobs' clock says
	}
	if !req.To.IsZero() && !req.From.IsZero() && !req.To.After(req.From) {
		return nil, field.Errorf("to", "must be after from")
	}
	ctx, cancel := context.WithCancel(m.ctx)
	r := &Replay{ID: ulid.Make().String(), Subscription: name, Request: req, State: ReplayRunning, StartedAt: now,
		cancel: cancel, done: make(chan struct{}), types: slices.Clone(s.spec.Types), uid: s.uid}
	m.mu.Lock()
	m.pruneReplays(now)
	if err := m.replayRoom(name); err != nil {
		m.mu.Unlock()
		cancel()
		return nil, err
	}
	m.replays[r.ID] = r
	m.mu.Unlock()
	m.wg.Go(func() {
		defer close(r.done)
		defer cancel()
		var err error
		if req.FromArchive {
			err = m.replayArchive(ctx, s, r)
		} else {
			err = m.replayBus(ctx, s, r)
		}
		r.mu.Lock()
		r.FinishedAt = m.now().UTC()
		switch {
		case err == nil:
			r.State = ReplayDone
		case ctx.Err() != nil:
			r.State = ReplayCancelled
		default:
			r.State, r.Error = ReplayFailed, err.Error()
		}
		m.log.Info("replay "+r.State, "subscription", name, "replay", r.ID, "replayed", r.Replayed)
		r.mu.Unlock()
		m.mu.Lock()
		m.pruneReplays(m.now())
		m.mu.Unlock()
	})
	return r.snapshot(), nil
}

// replayRoom checks the caps for one more replay of a subscription; m.mu is held.
func (m *Manager) replayRoom(name string) error {
	mine, all := 0, 0
	for _, r := range m.replays {
		if !r.running() {
			continue
		}
		all++
		if r.Subscription == name {
			mine++
		}
	}
	l := m.replayLimits
	if mine >= l.PerSubscription {
		return fmt.Errorf("%w: subscription %s already has %d running on this node, the most it may have; wait for one to end or cancel one (DELETE /v1/replays/{id})", ErrTooManyReplays, name, mine)
	}
	if all >= l.Total {
		return fmt.Errorf("%w: this node already runs %d replays, the most it may; try again when one has ended", ErrTooManyReplays, all)
	}
	return nil
}

// pruneReplays forgets finished replays older than KeepFor, and the oldest
// finished ones beyond KeepLast, so that the jobs held stay bounded: at most
// Total running and KeepLast finished. m.mu is held.
func (m *Manager) pruneReplays(now time.Time) {
	l := m.replayLimits
	type done struct {
		id string
		at time.Time
	}
	var finished []done
	for id, r := range m.replays {
		r.mu.Lock()
		running, at := r.State == ReplayRunning, r.FinishedAt
		r.mu.Unlock()
		if running {
			continue
		}
		if now.Sub(at) >= l.KeepFor {
			delete(m.replays, id)
			continue
		}
		finished = append(finished, done{id, at})
	}
	if len(finished) <= l.KeepLast {
		return
	}
	slices.SortFunc(finished, func(a, b done) int { return a.at.Compare(b.at) })
	for _, d := range finished[:len(finished)-l.KeepLast] {
		delete(m.replays, d.id)
	}
}

// cancelReplays stops the running replays of a subscription being removed
// and waits for them (until ctx ends), so that none publishes after its
// waiting events are purged.
func (m *Manager) cancelReplays(ctx context.Context, name string) {
	m.mu.Lock()
	var jobs []*Replay
	for _, r := range m.replays {
		if r.Subscription == name {
			r.cancel()
			jobs = append(jobs, r)
		}
	}
	m.mu.Unlock()
	for _, r := range jobs {
		select {
		case <-r.done:
		case <-ctx.Done():
			return
		}
	}
}

func (m *Manager) replayBus(ctx context.Context, s *Sub, r *Replay) error {
	req := r.Request
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: eventFilters(s.spec)}
	if req.FromSeq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, req.FromSeq
	} else {
		from := req.From
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
	}
	cons, err := m.js.OrderedConsumer(ctx, bus.EventsStream, cfg)
	if err != nil {
		return err
	}
	limit := rate.NewLimiter(rate.Limit(req.Rate), max(1, req.Rate/10))
	for {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil {
				continue
			}
			if (!req.To.IsZero() && !meta.Timestamp.Before(req.To)) || (req.ToSeq > 0 && meta.Sequence.Stream >= req.ToSeq) {
				return nil
			}
			typ := msg.Headers().Get(bus.HeaderEventType)
			if err := m.replayOne(ctx, s, r, limit, typ, msg.Headers().Get(bus.HeaderEventID), meta.Sequence.Stream, msg.Data()); err != nil {
				return err
			}
			if meta.NumPending == 0 {
				return nil // caught up with the stream
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if n == 0 {
			return nil // nothing more in range
		}
	}
}

func (m *Manager) replayArchive(ctx context.Context, s *Sub, r *Replay) error {
	limit := rate.NewLimiter(rate.Limit(r.Request.Rate), max(1, r.Request.Rate/10))
	return m.archive(ctx, r.Request.From, r.Request.To, s.spec.Types, func(typ, id string, event []byte) error {
		return m.replayOne(ctx, s, r, limit, typ, id, 0, event)
	})
}

// replayOne hands one event of the range to the subscription, at the job's
// rate; events its filter rejects are counted as scanned only. An event the
// filter cannot judge is handed on: the subscription's reader judges it again
// and makes it a dead letter, as it does with live events.
func (m *Manager) replayOne(ctx context.Context, s *Sub, r *Replay, limit *rate.Limiter, typ, id string, seq uint64, event []byte) error {
	r.mu.Lock()
	r.Scanned++
	r.mu.Unlock()
	unjudged := false
	ok, _ := s.selectsData(event, func(string) error { unjudged = true; return nil })
	if !ok && !unjudged {
		return nil
	}
	if err := limit.Wait(ctx); err != nil {
		return err
	}
	if err := m.publishReplay(ctx, s.name, typ, id, seq, event); err != nil {
		return fmt.Errorf("replay stream: %w", err)
	}
	r.mu.Lock()
	r.Replayed++
	r.mu.Unlock()
	return nil
}

// ErrNoReplay means there is no replay of that id on this node.
var ErrNoReplay = errors.New("no replay with that id on this node")

// Replay returns a replay's progress.
func (m *Manager) Replay(id string) (*Replay, error) {
	m.mu.Lock()
	m.pruneReplays(m.now())
	r := m.replays[id]
	m.mu.Unlock()
	if r == nil {
		return nil, ErrNoReplay
	}
	return r.snapshot(), nil
}

// CancelReplay stops a running replay; what was replayed stays delivered.
func (m *Manager) CancelReplay(id string) (*Replay, error) {
	m.mu.Lock()
	m.pruneReplays(m.now())
	r := m.replays[id]
	m.mu.Unlock()
	if r == nil {
		return nil, ErrNoReplay
	}
	r.cancel()
	return r.snapshot(), nil
}

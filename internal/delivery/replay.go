package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"golang.org/x/time/rate"

	"github.com/weir-dev/weir/internal/bus"
)

// Redeliver hands one event (its CloudEvent JSON) to one subscription again,
// through the subscription's own consumer: it is published on
// direct.<subscription>.<type>, which only that subscription reads, and then
// takes the same path as live events (filter, signing, retries, dead letters).
// key, when set, de-duplicates repeated calls within the bus's window.
func (m *Manager) Redeliver(ctx context.Context, name, typ, id string, event []byte, key string) error {
	if _, err := m.sub(name); err != nil {
		return err
	}
	msg := nats.NewMsg(bus.DirectPrefix + name + "." + typ)
	msg.Header.Set(bus.HeaderEventID, id)
	msg.Header.Set(bus.HeaderEventType, typ)
	msg.Header.Set("Content-Type", "application/cloudevents+json")
	msg.Data = event
	_, err := m.bus.Publish(ctx, msg, key)
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
}

func (r *Replay) snapshot() *Replay {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &Replay{ID: r.ID, Subscription: r.Subscription, Request: r.Request, State: r.State, Replayed: r.Replayed,
		Scanned: r.Scanned, Error: r.Error, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
}

// ArchiveReader reads archived events of a time range, oldest first.
type ArchiveReader func(ctx context.Context, from, to time.Time, patterns []string, fn func(typ, id string, event []byte) error) error

// ErrNoArchive means a replay from the archive was asked for, but no archive is configured.
var ErrNoArchive = errors.New("no archive is configured")

// SetArchive lets replays read from the archive.
func (m *Manager) SetArchive(r ArchiveReader) { m.archive = r }

// StartReplay delivers a range of history again to a subscription, alongside
// its live events, at a bounded rate. The job runs on this node; its progress
// is read with Replay and it stops early with CancelReplay.
func (m *Manager) StartReplay(name string, req ReplayRequest) (*Replay, error) {
	s, err := m.sub(name)
	if err != nil {
		return nil, err
	}
	if req.From.IsZero() && req.FromSeq == 0 {
		return nil, errors.New("from: give a time (from) or a stream sequence (from_seq)")
	}
	if req.FromArchive && m.archive == nil {
		return nil, ErrNoArchive
	}
	if req.FromArchive && req.From.IsZero() {
		return nil, errors.New("from: a replay from the archive needs a time")
	}
	if req.Rate <= 0 {
		req.Rate = 500
	}
	now := time.Now().UTC()
	if req.To.IsZero() && req.ToSeq == 0 {
		req.To = now
	}
	if !req.To.IsZero() && !req.From.IsZero() && !req.To.After(req.From) {
		return nil, errors.New("to: must be after from")
	}
	ctx, cancel := context.WithCancel(m.ctx)
	r := &Replay{ID: ulid.Make().String(), Subscription: name, Request: req, State: ReplayRunning, StartedAt: now, cancel: cancel}
	m.mu.Lock()
	m.replays[r.ID] = r
	m.mu.Unlock()
	m.wg.Go(func() {
		defer cancel()
		var err error
		if req.FromArchive {
			err = m.replayArchive(ctx, s, r)
		} else {
			err = m.replayBus(ctx, s, r)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.FinishedAt = time.Now().UTC()
		switch {
		case err == nil:
			r.State = ReplayDone
		case ctx.Err() != nil:
			r.State = ReplayCancelled
		default:
			r.State, r.Error = ReplayFailed, err.Error()
		}
		m.log.Info("replay "+r.State, "subscription", name, "replay", r.ID, "replayed", r.Replayed)
	})
	return r.snapshot(), nil
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
			r.mu.Lock()
			r.Scanned++
			r.mu.Unlock()
			if err := limit.Wait(ctx); err != nil {
				return err
			}
			typ := msg.Headers().Get(bus.HeaderEventType)
			if err := m.Redeliver(ctx, s.name, typ, msg.Headers().Get(bus.HeaderEventID), msg.Data(), ""); err != nil {
				return fmt.Errorf("redeliver: %w", err)
			}
			r.mu.Lock()
			r.Replayed++
			r.mu.Unlock()
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
		r.mu.Lock()
		r.Scanned++
		r.mu.Unlock()
		if err := limit.Wait(ctx); err != nil {
			return err
		}
		if err := m.Redeliver(ctx, s.name, typ, id, event, ""); err != nil {
			return err
		}
		r.mu.Lock()
		r.Replayed++
		r.mu.Unlock()
		return nil
	})
}

// ErrNoReplay means there is no replay of that id on this node.
var ErrNoReplay = errors.New("no replay with that id on this node")

// Replay returns a replay's progress.
func (m *Manager) Replay(id string) (*Replay, error) {
	m.mu.Lock()
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
	r := m.replays[id]
	m.mu.Unlock()
	if r == nil {
		return nil, ErrNoReplay
	}
	r.cancel()
	return r.snapshot(), nil
}

package ingress

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/event"
)

// Status is what happened to one incoming event.
type Status string

// The statuses weir answers with.
const (
	// StatusAccepted: the event is stored on the bus.
	StatusAccepted Status = "accepted"
	// StatusDuplicate: the same delivery was stored before; nothing new was stored.
	StatusDuplicate Status = "duplicate"
)

// Result is the answer for one event.
type Result struct {
	// ID is the event's id; for a duplicate, the id of the event stored first.
	ID string `json:"id"`
	// Status is accepted or duplicate.
	Status Status `json:"status"`
	// DeadLetterID names the dead letter of a quarantined event.
	DeadLetterID string `json:"dead_letter_id,omitempty"`
	// Seq is the event's sequence in the EVENTS stream.
	Seq uint64 `json:"-"`
}

// Publisher stores events on the bus exactly once per de-duplication key. It is
// the one path by which events enter weir: webhook ingress and POST /v1/events
// both end here.
type Publisher struct {
	bus       *bus.Bus
	contracts *Contracts
	log       *slog.Logger
	metrics   *Metrics
	timeout   time.Duration
	gate      *Gate
	observer  Observer
}

// Observer learns of every event stored on the bus (not of duplicates). It is
// called on the request's path, so it must be quick and must not block.
type Observer interface {
	// Accepted gets the type and source of an event just stored.
	Accepted(typ, source string)
}

// NewPublisher builds a Publisher; timeout bounds the wait for JetStream's ack.
// contracts may be nil (no checking). gate bounds and sheds the load; it learns
// from every publish how fast the bus stores events. obs may be nil.
func NewPublisher(b *bus.Bus, contracts *Contracts, gate *Gate, m *Metrics, timeout time.Duration, log *slog.Logger, obs Observer) *Publisher {
	if contracts != nil {
		contracts.deprecated = m.deprecated
	}
	m.watch(gate)
	return &Publisher{bus: b, contracts: contracts, gate: gate, log: log, metrics: m, timeout: timeout, observer: obs}
}

// Gate is the load gate every incoming event passes before its body is read.
func (p *Publisher) Gate() *Gate { return p.gate }

// errUnavailable marks failures a retry may fix.
var errUnavailable = bus.ErrUnavailable

// Publish stores ev on subject events.<type>.
//
// With a non-empty key, a delivery with the same key seen within window is a
// duplicate: nothing is stored and the first event's id is returned. The check
// runs in two layers. The long window is a key-value record written only after
// JetStream acked the event, so a failed publish leaves no record behind and the
// sender's retry is accepted. Requests racing each other (or a retry whose first
// ack was lost) are resolved by JetStream itself: the key is also the message's
// Nats-Msg-Id, and the stream stores only the first within its own window.
//
// Errors wrap bus.ErrUnavailable when the bus cannot take the event.
func (p *Publisher) Publish(ctx context.Context, ev *event.Event, key string, window time.Duration) (Result, error) {
	done := p.gate.Publishing()
	res, err := p.publish(ctx, ev, key, window)
	done()
	return res, err
}

func (p *Publisher) publish(ctx context.Context, ev *event.Event, key string, window time.Duration) (Result, error) {
	// One deadline bounds the lookup and the publish together.
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var dk string
	if key != "" {
		dk = dedupeKey(key)
		if id, ok, err := p.seen(ctx, dk, window); err != nil {
			return Result{}, err
		} else if ok {
			return Result{ID: id, Status: StatusDuplicate}, nil
		}
	}
	msg := nats.NewMsg(bus.EventsPrefix + ev.Type)
	msg.Header.Set(bus.HeaderEventID, ev.ID)
	msg.Header.Set(bus.HeaderEventType, ev.Type)
	msg.Header.Set(bus.HeaderEventSource, ev.Source)
	msg.Header.Set("Content-Type", "application/cloudevents+json")
	msg.Data = ev.AppendJSON(make([]byte, 0, 256+len(ev.Data)+len(ev.DataBase64)*4/3))

	start := time.Now()
	pub, err := p.bus.Publish(ctx, msg, dk)
	p.metrics.publishSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return Result{}, err
	}
	res := Result{ID: ev.ID, Status: StatusAccepted, Seq: pub.Seq}
	if pub.Duplicate {
		res.Status = StatusDuplicate
		if id, err := p.bus.EventIDAt(ctx, pub.Seq); err == nil && id != "" {
			res.ID = id
		}
	} else if p.observer != nil {
		p.observer.Accepted(ev.Type, ev.Source)
	}
	if dk != "" {
		if err := p.bus.Remember(dk, []byte(res.ID)); err != nil {
			p.log.WarnContext(ctx, "de-duplication record not written", slog.String("event_id", res.ID), slog.Any("error", err))
		}
	}
	return res, nil
}

// seen looks the key up in the de-duplication bucket.
func (p *Publisher) seen(ctx context.Context, dk string, window time.Duration) (string, bool, error) {
	if !p.bus.Connected() {
		return "", false, bus.ErrUnavailable
	}
	id, created, found, err := p.bus.Recall(ctx, dk)
	if err != nil || !found {
		return "", false, err
	}
	if window > 0 && time.Since(created) > window {
		return "", false, nil
	}
	return string(id), true, nil
}

// dedupeKey turns a namespaced delivery key into a bucket key and message id:
// fixed length, and only characters both accept.
func dedupeKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

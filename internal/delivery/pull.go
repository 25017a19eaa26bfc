package delivery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/field"
)

// Pulled is one event handed to a pull subscriber.
type Pulled struct {
	// AckID acknowledges (or nacks) this delivery through the ack endpoint.
	AckID string `json:"ack_id"`
	// Attempt is how many times the event has been handed out, this one included.
	Attempt int `json:"attempt"`
	// Event is the CloudEvent.
	Event json.RawMessage `json:"event"`
}

// replayPoll is how often a waiting fetch looks for replayed events.
const replayPoll = time.Second

// ErrPaused means the subscription is paused: nothing is handed out until it
// is resumed.
var ErrPaused = errors.New("the subscription is paused; resume it with POST /v1/subscriptions/{name}/resume")

// ErrBadAckID means an ack request is not valid for this subscription: an ack
// id it did not hand out, or a bad delay.
var ErrBadAckID = errors.New("not an ack id of this subscription")

// errBadAck wraps ErrBadAckID for problems that are not about the id itself.
var errBadAck = fmt.Errorf("invalid ack request: %w", ErrBadAckID)

// Fetch long-polls a pull subscription: it returns as soon as at least one event
// is there (up to max), or empty after wait. Unacknowledged events are handed
// out again after the subscription's ack_wait. Replayed events (see
// ReplaysStream) share the answer with live ones (see takeWaiting); the wait
// for live events is cut into slices of replayPoll so that a replay starting
// meanwhile is seen.
func (m *Manager) Fetch(ctx context.Context, name string, maxEvents int, wait time.Duration) ([]Pulled, error) {
	s, err := m.sub(name)
	if err != nil {
		return nil, err
	}
	if s.spec.Pull == nil {
		return nil, ErrNotPull
	}
	if s.disabled.Load() {
		return nil, ErrPaused
	}
	out := []Pulled{}
	deadline := time.Now().Add(wait)
	for len(out) == 0 {
		if err := s.takeWaiting(ctx, maxEvents, &out); err != nil || len(out) > 0 {
			return out, err
		}
		// Wait for the first event, then take what else is already there: the
		// answer comes as soon as there is something, as a long-poll should.
		left := min(max(time.Until(deadline), 100*time.Millisecond), replayPoll)
		fctx, cancel := context.WithTimeout(ctx, left)
		first, err := s.cons.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			return nil, err
		}
		n, err := s.take(ctx, first, &out)
		cancel()
		if err != nil {
			return out, err
		}
		if n > 0 && maxEvents > 1 {
			rest, err := s.cons.FetchNoWait(maxEvents - 1)
			if err != nil {
				return out, err
			}
			if _, err := s.take(ctx, rest, &out); err != nil {
				return out, err
			}
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			break
		}
	}
	return out, nil
}

// takeWaiting takes, without waiting, what is already there: replayed events
// up to half of max, live ones in the rest, and replayed ones in all of it
// when there is nothing live. A replay thus never holds live events back, and
// live traffic does not stop a replay.
func (s *Sub) takeWaiting(ctx context.Context, maxEvents int, out *[]Pulled) error {
	from := func(cons jetstream.Consumer, n int) error {
		if n <= 0 {
			return nil
		}
		batch, err := cons.FetchNoWait(n)
		if err != nil {
			return err
		}
		_, err = s.take(ctx, batch, out)
		return err
	}
	if err := from(s.rcons, maxEvents/2); err != nil {
		return err
	}
	if err := from(s.cons, maxEvents-len(*out)); err != nil {
		return err
	}
	if len(*out) > 0 {
		return nil
	}
	return from(s.rcons, maxEvents)
}

// take hands out a batch's events, skipping what the filter rejects and
// dead-lettering what was handed out too often.
func (s *Sub) take(ctx context.Context, batch jetstream.MessageBatch, out *[]Pulled) (int, error) {
	n := 0
	for msg := range batch.Messages() {
		n++
		meta, err := msg.Metadata()
		if err != nil {
			continue
		}
		if !s.selects(ctx, msg, meta) {
			continue
		}
		if maxA := s.spec.Pull.MaxAttempts; maxA > 0 && int(meta.NumDelivered) > maxA {
			s.pullDeadLetter(ctx, msg, meta)
			continue
		}
		*out = append(*out, Pulled{
			AckID:   base64.RawURLEncoding.EncodeToString([]byte(msg.Reply())),
			Attempt: int(meta.NumDelivered),
			Event:   append(json.RawMessage(nil), msg.Data()...),
		})
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return n, err
	}
	return n, nil
}

func (s *Sub) pullDeadLetter(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata) {
	r := result{}
	r.attempt.Subscription, r.attempt.EventID = s.name, msg.Headers().Get(bus.HeaderEventID)
	r.attempt.Number, r.attempt.At, r.attempt.Outcome = int(meta.NumDelivered)-1, time.Now().UTC(), OutcomeDeadLetter
	r.attempt.Error, r.attempt.ErrorClass = "handed out but never acknowledged", deadletter.ClassUnacknowledged
	s.deadLetterPull(ctx, msg, meta, r)
}

// AckAction is what a subscriber says about one pulled event.
type AckAction struct {
	// AckID from the fetch.
	AckID string `json:"ack_id"`
	// Nack asks for the event again (after Delay); otherwise it is acknowledged.
	Nack bool `json:"nack,omitempty"`
	// Delay before a nacked event comes back, e.g. "30s".
	Delay string `json:"delay,omitempty"`
}

// Ack applies acks and nacks. Every id must belong to the subscription; a
// bad action is a *field.Error naming it by index ("[1].ack_id") and wrapping
// ErrBadAckID.
func (m *Manager) Ack(ctx context.Context, name string, actions []AckAction) error {
	if _, err := m.sub(name); err != nil {
		return err
	}
	prefixes := []string{
		"$JS.ACK." + bus.EventsStream + "." + consumerPrefix + name + ".",
		"$JS.ACK." + ReplaysStream + "." + replayConsumerPrefix + name + ".",
	}
	nc := m.bus.Conn()
	// Every action is checked before any is applied: a bad one refuses them all.
	payloads := make([][]byte, len(actions))
	replies := make([]string, len(actions))
	for i, a := range actions {
		raw, err := base64.RawURLEncoding.DecodeString(a.AckID)
		reply := string(raw)
		if err != nil || !hasAnyPrefix(reply, prefixes) || strings.ContainsAny(reply, " *>") {
			return field.Wrap(fmt.Sprintf("[%d].ack_id", i), ErrBadAckID)
		}
		var payload []byte
		switch {
		case !a.Nack:
			payload = []byte("+ACK")
		case a.Delay != "":
			d, err := time.ParseDuration(a.Delay)
			if err != nil || d < 0 || d > 24*time.Hour {
				return field.Errorf(fmt.Sprintf("[%d].delay", i), "%q is not a duration between 0s and 24h (%w)", a.Delay, errBadAck)
			}
			payload = fmt.Appendf(nil, `-NAK {"delay": %d}`, d.Nanoseconds())
		default:
			payload = []byte("-NAK")
		}
		payloads[i], replies[i] = payload, reply
	}
	for i := range actions {
		if err := nc.Publish(replies[i], payloads[i]); err != nil {
			return err
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return nc.FlushWithContext(fctx)
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/token"
)

// Errors of Redrive. ErrNotFound and ErrOtherIncarnation also come from it,
// when the subscription that gave up on an undeliverable event is gone.
var (
	// ErrNotCorrectable means corrected data came with an undeliverable
	// event, which is sent again as it was: only quarantined events can be
	// corrected.
	ErrNotCorrectable = errors.New("only quarantined events can be corrected; an undeliverable event is sent again as it was")
	// ErrNotRedrivable means the dead letter is a sink's: a sink loads an
	// event again by a replay of the sink, not by a redrive.
	ErrNotRedrivable = errors.New("a sink's dead letter is not redriven: replay the sink from before the event (POST /v1/sinks/{name}/replay), then resolve the dead letter")
)

// ClosedError means the dead letter was already redriven or resolved.
type ClosedError struct {
	// Status is the dead letter's status.
	Status string
}

func (e *ClosedError) Error() string { return "this dead letter was already " + e.Status }

// UnmarkedError means the event was sent on but the dead letter could not
// be marked redriven: a retry sends nothing twice (the redrive is
// deduplicated per dead letter) and marks it.
type UnmarkedError struct {
	Err error
}

func (e *UnmarkedError) Error() string {
	return "the event was redriven, but the dead letter was not marked redriven: " + e.Err.Error()
}

func (e *UnmarkedError) Unwrap() error { return e.Err }

// Readmitter publishes a quarantined event again, checked against its
// contract, with corrected data when data is set, and stores the event as
// published in d.Event. It is ingress's work (*ingress.Readmitter): delivery
// and ingress meet only on the bus, so the caller hands it in.
type Readmitter interface {
	Readmit(ctx context.Context, tok *token.Token, d *deadletter.DeadLetter, data json.RawMessage) error
}

// Redrive sends one open dead letter on and marks it redriven by tok: an
// undeliverable event goes again to the subscription that gave up on it
// (only to that incarnation: one created later under the same name may
// belong to someone else), a quarantined one through rm, with data in place
// of its data when set. The caller has checked that tok may handle d
// (MayHandle). A refused redrive leaves d open; its error is a
// *ClosedError, ErrNotCorrectable, ErrNotFound, ErrOtherIncarnation, rm's
// refusal (*ingress.RefusedError), an *UnmarkedError, or the bus's error.
func (m *Manager) Redrive(ctx context.Context, rm Readmitter, tok *token.Token, d *deadletter.DeadLetter, data json.RawMessage) error {
	if d.Status != "" && d.Status != deadletter.StatusOpen {
		return &ClosedError{Status: d.Status}
	}
	switch d.Kind {
	case deadletter.KindSink:
		return ErrNotRedrivable
	case "undeliverable":
		if len(data) > 0 {
			return ErrNotCorrectable
		}
		// The manager checks the incarnation as it publishes.
		if err := m.Redeliver(ctx, d.Subscription, d.SubscriptionUID, d.EventType, d.EventID, d.Event, "rd:"+d.ID); err != nil {
			return err
		}
	case "quarantined":
		if err := rm.Readmit(ctx, tok, d, data); err != nil {
			return err
		}
	}
	d.Status, d.ClosedAt, d.ClosedBy = deadletter.StatusRedriven, time.Now().UTC(), tok.Name
	if err := m.DeadLetters().Update(ctx, d); err != nil {
		return &UnmarkedError{Err: err}
	}
	return nil
}

// MaxBulkRedrive is how many dead letters one bulk redrive takes at most:
// each is a publish and a write, and the caller waits for all of them.
const MaxBulkRedrive = 1000

// BulkRedriven is what a bulk redrive did.
type BulkRedriven struct {
	// Redriven are the ids sent on.
	Redriven []string
	// Failed are those refused, by id, with why.
	Failed []BulkFailure
}

// BulkFailure is one dead letter a bulk redrive could not send on.
type BulkFailure struct {
	ID  string
	Err error
}

// BulkRedrive redrives each dead letter of list, as is, one after another;
// one refusal does not stop the others.
func (m *Manager) BulkRedrive(ctx context.Context, rm Readmitter, tok *token.Token, list []*deadletter.DeadLetter) BulkRedriven {
	out := BulkRedriven{Redriven: []string{}, Failed: []BulkFailure{}}
	for _, d := range list {
		if err := m.Redrive(ctx, rm, tok, d, nil); err != nil {
			out.Failed = append(out.Failed, BulkFailure{ID: d.ID, Err: err})
			continue
		}
		out.Redriven = append(out.Redriven, d.ID)
	}
	return out
}

// ErrNoReason means a resolve came without a reason.
var ErrNoReason = errors.New("say why this event is closed without being sent on")

// Resolve closes an open dead letter without sending it on, with tok's
// reason. The caller has checked that tok may handle d. Its errors are
// ErrNoReason, a *ClosedError or the store's.
func (m *Manager) Resolve(ctx context.Context, tok *token.Token, d *deadletter.DeadLetter, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return ErrNoReason
	}
	if d.Status != "" && d.Status != deadletter.StatusOpen {
		return &ClosedError{Status: d.Status}
	}
	d.Status, d.ClosedAt, d.ClosedBy, d.Resolution = deadletter.StatusResolved, time.Now().UTC(), tok.Name, reason
	return m.DeadLetters().Update(ctx, d)
}

package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/problem"
	"github.com/weir-dev/weir/internal/token"
)

// RefusedError is a redrive of a quarantined event that weir refuses: the
// stored event cannot be read, the caller may not correct it, the corrected
// data is not I-JSON, or the event still breaks its contract. Problem is the
// answer the API gives (its Errors list each contract violation); nothing
// was published.
type RefusedError struct {
	Problem *problem.Problem
}

func (e *RefusedError) Error() string { return e.Problem.Detail }

// MayCorrect refuses a corrected payload from a token that may not speak
// for the event's source: the data would be published under an origin the
// token does not own. A source under /sources/ vouches for a verified
// webhook sender, so only an admin may correct such an event. The refusal
// is a *RefusedError (403).
func MayCorrect(tok *token.Token, ev *event.Event) error {
	if tok.IsAdmin() {
		return nil
	}
	if ReservedSource(ev.Source) {
		return &RefusedError{problem.New(http.StatusForbidden, "forbidden",
			"this event came through webhook ingress ("+quote(ev.Source)+"), and its source vouches for a verified sender: only an admin may publish corrected data under it. Redrive it without data once the contract accepts it, or ask the sender to send it again").WithField("data")}
	}
	if !tok.CanSource(ev.Source) {
		return &RefusedError{problem.New(http.StatusForbidden, "forbidden",
			"token "+quote(tok.Name)+" may publish only events whose source is under "+quote(strings.Join(tok.Sources, ", "))+", not "+quote(ev.Source)+", so it may not correct this one").WithField("data")}
	}
	return nil
}

// Readmitter sends quarantined events on: it checks each against its
// contract again (policy reject: a redrive never quarantines twice) and
// publishes it, deduplicated per dead letter. It is what delivery's
// Redrive calls for a quarantined event, so that delivery itself never
// publishes as ingress does.
type Readmitter struct {
	// Publisher admits and publishes.
	Publisher *Publisher
	// Window is the deduplication window (ingress.dedupe_window): a second
	// redrive of the same dead letter within it publishes nothing.
	Window time.Duration
}

// Readmit publishes d's event again, with data in place of its data when
// data is set (tok must be allowed to correct it), and on success stores
// the event as published in d.Event. Refusals are *RefusedError; any other
// error means the bus did not take the event.
func (r *Readmitter) Readmit(ctx context.Context, tok *token.Token, d *deadletter.DeadLetter, data json.RawMessage) error {
	ev, err := event.Decode(d.Event)
	if err != nil {
		return &RefusedError{problem.New(http.StatusConflict, "invalid-event", "the stored event cannot be read: "+err.Error())}
	}
	if len(data) > 0 {
		if err := MayCorrect(tok, &ev); err != nil {
			return err
		}
		// The correction is checked as ingress checks a body: UTF-8,
		// and I-JSON (no repeated names, no number beyond a float64).
		if err := event.CheckJSON(data); err != nil {
			var je *event.JSONError
			if errors.As(err, &je) {
				return &RefusedError{problem.New(http.StatusBadRequest, string(je.Kind), "data: "+je.Error()).WithField("data" + je.Field)}
			}
			return &RefusedError{problem.New(http.StatusBadRequest, "malformed-json", "data: "+err.Error()).WithField("data")}
		}
		ev.Data, ev.DataBase64 = data, nil
	}
	ev.DataSchema = ""
	if adm := r.Publisher.Admit(&ev, "reject", ""); adm.Problem != nil {
		return &RefusedError{adm.Problem}
	}
	if _, err := r.Publisher.Publish(ctx, &ev, "rd\x00"+d.ID, r.Window); err != nil {
		return err
	}
	d.Event = ev.AppendJSON(nil)
	return nil
}

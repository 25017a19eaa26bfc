package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/ingress"
	"github.com/weir-dev/weir/internal/problem"
	"github.com/weir-dev/weir/internal/token"
)

// apiSourceLabel is the metrics label of events published through the API.
const apiSourceLabel = "api"

// publishEvents serves POST /v1/events: the CloudEvents HTTP binding in
// structured, binary and batch modes.
//
// A batch is checked whole before anything is stored: one bad event refuses the
// batch with the index of the culprit, and nothing is written. If the bus fails
// in the middle of a batch, the answer is 503 and the events already stored stay
// stored; retrying the same batch is safe, since every event is de-duplicated on
// (token, source, id).
func (a *API) publishEvents(w http.ResponseWriter, r *http.Request) {
	// Publishers through the API count as normal-priority sources.
	release, p := a.pub.Gate().Enter(ingress.PriorityNormal)
	if p != nil {
		a.fail(w, r, "shed", p)
		return
	}
	defer release()
	body, outcome, p := ingress.ReadBody(w, r, a.maxBody, "ingress.max_body", a.bodyTimeout)
	if p != nil {
		a.fail(w, r, outcome, p)
		return
	}
	events, mode, err := event.ReadHTTP(r.Header, body)
	if err != nil {
		a.fail(w, r, "malformed", eventProblem(err))
		return
	}
	if len(events) == 0 {
		a.fail(w, r, "malformed", problem.New(http.StatusBadRequest, "empty-batch", "the batch holds no events").WithField("body"))
		return
	}
	tok := tokenOf(r)
	now := time.Now().UTC()
	for i := range events {
		ev := &events[i]
		field := func(f string) string {
			if mode == event.ModeBatch {
				return "[" + itoa(int64(i)) + "]." + f
			}
			return f
		}
		if err := config.ValidType(ev.Type); err != nil {
			a.fail(w, r, "bad_type", problem.New(http.StatusBadRequest, "invalid-type", "the event type "+err.Error()).WithField(field("type")))
			return
		}
		if !tok.Can("publish", ev.Type) {
			a.fail(w, r, "forbidden", problem.New(http.StatusForbidden, "forbidden",
				"token "+quote(tok.Name)+" may not publish events of type "+quote(ev.Type)+"; it needs a role publish:<pattern> that matches it").WithField(field("type")))
			return
		}
		if p := checkOrigin(tok, ev); p != nil {
			p.Field = field(p.Field)
			a.fail(w, r, "forbidden", p)
			return
		}
		if ev.Time.IsZero() {
			ev.Time = now
		}
		if ev.Extensions == nil {
			ev.Extensions = map[string]any{}
		}
		// Every event carries a trace context: its own, the request's, or a new one.
		if tp, _ := ev.Extensions["traceparent"].(string); tp == "" {
			ev.Extensions["traceparent"] = ingress.Traceparent(r.Header.Get("Traceparent"))
		}
	}
	// Every event is held to its contract before any is stored.
	admissions := make([]ingress.Admission, len(events))
	for i := range events {
		prefix := ""
		if mode == event.ModeBatch {
			prefix = "[" + itoa(int64(i)) + "]."
		}
		admissions[i] = a.pub.Admit(&events[i], a.onInvalid, prefix)
		if p := admissions[i].Problem; p != nil {
			a.fail(w, r, "refused", p)
			return
		}
		ingress.DeprecationHeaders(w.Header(), admissions[i].Verdict.Deprecation)
	}
	results := make([]ingress.Result, 0, len(events))
	for i := range events {
		ev := &events[i]
		var res ingress.Result
		var err error
		if admissions[i].Quarantine {
			res, err = a.pub.Quarantine(r.Context(), ev, admissions[i])
		} else {
			res, err = a.pub.Publish(r.Context(), ev, publishKey(tok, ev), a.dedupeWindow)
		}
		if err != nil {
			a.log.WarnContext(r.Context(), "event not stored", slog.String("event_id", ev.ID), slog.Any("error", err))
			a.fail(w, r, "unavailable", ingress.Unavailable(err))
			return
		}
		a.metrics.Count(apiSourceLabel, string(res.Status))
		a.log.DebugContext(r.Context(), "event "+string(res.Status), slog.String("event_id", ev.ID), slog.String("type", ev.Type), slog.String("token", tok.Name))
		results = append(results, res)
	}
	if mode != event.ModeBatch {
		ingress.WriteResult(w, results[0])
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"results": results})
}

// checkOrigin refuses an event that claims an origin the token may not
// speak for: a source under /sources/ or a deliveryid extension, which only
// webhook ingress sets (any token, admin too), or a source outside the
// token's bound sources. The problem's field is the bare attribute name.
func checkOrigin(tok *token.Token, ev *event.Event) *problem.Problem {
	if ingress.ReservedSource(ev.Source) {
		return problem.New(http.StatusForbidden, "reserved-attribute",
			"source "+quote(ev.Source)+" is under "+ingress.SourcePrefix+", which is reserved to webhook ingress (POST /in/{source}); publish under a source of your own, such as /apps/<name>").WithField("source")
	}
	if _, ok := ev.Extensions[ingress.DeliveryIDExtension]; ok {
		return problem.New(http.StatusForbidden, "reserved-attribute",
			"the "+ingress.DeliveryIDExtension+" extension is set by webhook ingress only, from a sender's delivery id; remove it").WithField(ingress.DeliveryIDExtension)
	}
	if !tok.CanSource(ev.Source) {
		return problem.New(http.StatusForbidden, "forbidden",
			"token "+quote(tok.Name)+" may publish only events whose source is under "+quote(strings.Join(tok.Sources, ", "))+", not "+quote(ev.Source)).WithField("source")
	}
	return nil
}

// publishKey is an event's de-duplication key: the publishing token, then
// source and id. Scoping it to the token keeps a publisher from answering
// another's events as duplicates by sending their (source, id) first. The
// name is length-prefixed so that no name can run into the source.
func publishKey(tok *token.Token, ev *event.Event) string {
	return "ce\x00" + itoa(int64(len(tok.Name))) + ":" + tok.Name + "\x00" + ev.Source + "\x00" + ev.ID
}

// eventProblem turns a decoding error into a 400 naming the attribute.
func eventProblem(err error) *problem.Problem {
	var fe *event.FieldError
	var je *event.JSONError
	switch {
	case errors.As(err, &je):
		return problem.New(http.StatusBadRequest, string(je.Kind), err.Error()).WithField(je.Field)
	case errors.As(err, &fe):
		return problem.New(http.StatusBadRequest, "invalid-event", err.Error()).WithField(fe.Path)
	case errors.Is(err, event.ErrNotCloudEvent), errors.Is(err, event.ErrUnsupportedFormat):
		return problem.New(http.StatusUnsupportedMediaType, "not-a-cloudevent", err.Error()).WithField("Content-Type")
	default:
		return problem.New(http.StatusBadRequest, "malformed-json", err.Error()).WithField("body")
	}
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, outcome string, p *problem.Problem) {
	a.metrics.Count(apiSourceLabel, outcome)
	p.Write(w, r)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

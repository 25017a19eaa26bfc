package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/problem"
)

// registerSubscriptions adds the subscription and dead-letter routes.
func (a *API) registerSubscriptions(mux *http.ServeMux) {
	h := func(f http.HandlerFunc) http.Handler { return a.auth(f) }
	mux.Handle("GET /v1/subscriptions", h(a.listSubscriptions))
	mux.Handle("POST /v1/subscriptions", h(a.createSubscription))
	mux.Handle("GET /v1/subscriptions/{name}", h(a.getSubscription))
	mux.Handle("PUT /v1/subscriptions/{name}", h(a.putSubscription))
	mux.Handle("DELETE /v1/subscriptions/{name}", h(a.deleteSubscription))
	mux.Handle("POST /v1/subscriptions/{name}/pause", h(a.setState(delivery.StateDisabled)))
	mux.Handle("POST /v1/subscriptions/{name}/resume", h(a.setState(delivery.StateActive)))
	mux.Handle("GET /v1/subscriptions/{name}/attempts", h(a.listAttempts))
	mux.Handle("GET /v1/subscriptions/{name}/events", h(a.fetchEvents))
	mux.Handle("POST /v1/subscriptions/{name}/ack", h(a.ackEvents))
	mux.Handle("GET /v1/subscriptions/{name}/stream", h(a.streamEvents))
	mux.Handle("POST /v1/subscriptions/{name}/replay", h(a.startReplay))
	mux.Handle("GET /v1/replays/{id}", h(a.getReplay))
	mux.Handle("DELETE /v1/replays/{id}", h(a.cancelReplay))
	mux.Handle("POST /v1/filters/preview", h(a.previewFilter))
	a.registerDeadLetters(mux, h)
}

// subscription finds the named subscription and checks the token may read it.
func (a *API) subscription(w http.ResponseWriter, r *http.Request) (*delivery.View, bool) {
	name := r.PathValue("name")
	v, err := a.deliv.Get(r.Context(), name)
	if err != nil {
		problem.New(http.StatusNotFound, "unknown-subscription", "there is no subscription named "+quote(name)).WithField("name").Write(w, r)
		return nil, false
	}
	if !delivery.MayRead(tokenOf(r), v) {
		forbidden(w, r, "types", "token "+quote(tokenOf(r).Name)+" may not read subscription "+quote(name)+": it needs subscribe roles covering "+strings.Join(v.Spec.Types, ", "))
		return nil, false
	}
	return v, true
}

func forbidden(w http.ResponseWriter, r *http.Request, field, detail string) {
	problem.New(http.StatusForbidden, "forbidden", detail).WithField(field).Write(w, r)
}

func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"subscriptions": a.deliv.Visible(r.Context(), tokenOf(r))})
}

func (a *API) getSubscription(w http.ResponseWriter, r *http.Request) {
	if v, ok := a.subscription(w, r); ok {
		writeJSON(w, http.StatusOK, v)
	}
}

// subscriptionBody is the body of POST and PUT: a subscription with its name.
type subscriptionBody struct {
	Name string `json:"name"`
	config.Subscription
}

func (a *API) createSubscription(w http.ResponseWriter, r *http.Request) {
	a.writeSubscription(w, r, "", false)
}

func (a *API) putSubscription(w http.ResponseWriter, r *http.Request) {
	a.writeSubscription(w, r, r.PathValue("name"), true)
}

func (a *API) writeSubscription(w http.ResponseWriter, r *http.Request, name string, replace bool) {
	var body subscriptionBody
	if !decodeBody(w, r, &body) {
		return
	}
	if name == "" {
		name = body.Name
	} else if body.Name != "" && body.Name != name {
		problem.New(http.StatusBadRequest, "invalid-subscription", "the body's name "+quote(body.Name)+" differs from the URL's "+quote(name)).WithField("name").Write(w, r)
		return
	}
	if name == "" {
		problem.New(http.StatusBadRequest, "invalid-subscription", "name: required").WithField("name").Write(w, r)
		return
	}
	if replace {
		// Replacing needs the right to the subscription as it is, too.
		if old, err := a.deliv.Get(r.Context(), name); err == nil && !tokenOf(r).CanSubscribe(old.Spec.Types) {
			forbidden(w, r, "name", "token "+quote(tokenOf(r).Name)+" may not change subscription "+quote(name))
			return
		}
	}
	if !tokenOf(r).CanSubscribe(body.Types) {
		forbidden(w, r, "types", "token "+quote(tokenOf(r).Name)+" may not subscribe to "+strings.Join(body.Types, ", ")+": it needs subscribe roles covering them")
		return
	}
	tok := tokenOf(r)
	err := a.deliv.Create(r.Context(), name, &body.Subscription, replace, delivery.CreatorFor(tok.Name, tok))
	var fe *field.Error
	switch {
	case errors.Is(err, delivery.ErrNotCovered):
		forbidden(w, r, "name", "token "+quote(tok.Name)+" may not change subscription "+quote(name))
		return
	case errors.Is(err, delivery.ErrTargetDenied) && errors.As(err, &fe):
		problem.New(http.StatusUnprocessableEntity, "target-denied", fe.Error()).WithField(fe.Path).Write(w, r)
		return
	case errors.Is(err, delivery.ErrDeclaredInConfig):
		problem.New(http.StatusConflict, "declared-in-config", err.Error()).WithField("name").Write(w, r)
		return
	case errors.Is(err, delivery.ErrExists):
		problem.New(http.StatusConflict, "subscription-exists", "a subscription named "+quote(name)+" already exists; use PUT /v1/subscriptions/"+name+" to replace it").WithField("name").Write(w, r)
		return
	case err != nil:
		a.writeError(w, r, "invalid-subscription", err)
		return
	}
	v, err := a.deliv.Get(r.Context(), name)
	if err != nil {
		a.writeError(w, r, "invalid-subscription", err)
		return
	}
	status := http.StatusCreated
	if replace {
		status = http.StatusOK
	}
	w.Header().Set("Location", "/v1/subscriptions/"+name)
	writeJSON(w, status, v)
}

func (a *API) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.subscription(w, r); !ok {
		return
	}
	err := a.deliv.Delete(r.Context(), r.PathValue("name"))
	switch {
	case errors.Is(err, delivery.ErrDeclaredInConfig):
		problem.New(http.StatusConflict, "declared-in-config", err.Error()).WithField("name").Write(w, r)
	case err != nil:
		a.writeError(w, r, "invalid-subscription", err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (a *API) setState(state string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := a.subscription(w, r); !ok {
			return
		}
		reason := ""
		if state == delivery.StateDisabled {
			reason = "paused through the API by token " + quote(tokenOf(r).Name)
		}
		if err := a.deliv.SetState(r.Context(), r.PathValue("name"), state, reason); err != nil {
			a.writeError(w, r, "invalid-subscription", err)
			return
		}
		v, _ := a.deliv.Get(r.Context(), r.PathValue("name"))
		writeJSON(w, http.StatusOK, v)
	}
}

func (a *API) listAttempts(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.subscription(w, r); !ok {
		return
	}
	q := r.URL.Query()
	limit, ok := intParam(w, r, "limit", 100, 1, 1000)
	if !ok {
		return
	}
	at, err := a.deliv.Attempts(r.Context(), delivery.Query{
		Subscription: r.PathValue("name"), EventID: q.Get("event_id"), Outcome: q.Get("outcome"), Limit: limit,
	})
	if err != nil {
		a.writeError(w, r, "invalid-subscription", err)
		return
	}
	if at == nil {
		at = []deadletter.Attempt{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"attempts": at})
}

func (a *API) fetchEvents(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.subscription(w, r); !ok {
		return
	}
	maxN, ok := intParam(w, r, "max", 10, 1, 1000)
	if !ok {
		return
	}
	wait := 0 * time.Second
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 5*time.Minute {
			problem.New(http.StatusBadRequest, "invalid-parameter", "wait: "+quote(v)+" is not a duration between 0s and 5m (e.g. 30s)").WithField("wait").Write(w, r)
			return
		}
		wait = d
	}
	events, err := a.deliv.Fetch(r.Context(), r.PathValue("name"), maxN, wait)
	if errors.Is(err, delivery.ErrPaused) {
		problem.New(http.StatusConflict, "subscription-paused", err.Error()).WithField("name").Write(w, r)
		return
	}
	if errors.Is(err, delivery.ErrNotPull) {
		problem.New(http.StatusConflict, "not-a-pull-subscription", err.Error()).WithField("name").Write(w, r)
		return
	}
	if err != nil {
		a.unavailable(r, err).Write(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events})
}

func (a *API) ackEvents(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.subscription(w, r); !ok {
		return
	}
	var body struct {
		Acks []delivery.AckAction `json:"acks"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if len(body.Acks) == 0 {
		problem.New(http.StatusBadRequest, "invalid-ack", "acks: give at least one {\"ack_id\": ...}").WithField("acks").Write(w, r)
		return
	}
	if err := a.deliv.Ack(r.Context(), r.PathValue("name"), body.Acks); err != nil {
		var fe *field.Error
		if !errors.Is(err, delivery.ErrBadAckID) || !errors.As(err, &fe) {
			a.unavailable(r, err).Write(w, r)
			return
		}
		fe.Prefix("acks")
		problem.New(http.StatusBadRequest, "invalid-ack", fe.Error()).WithField(fe.Path).Write(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": len(body.Acks)})
}

// streamEvents serves server-sent events; browsers, which cannot set headers on
// an EventSource, may give the token as ?access_token=.
func (a *API) streamEvents(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.subscription(w, r); !ok {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		problem.New(http.StatusInternalServerError, "internal", "streaming is not supported by this connection").Write(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, ": weir stream of subscription "+r.PathValue("name")+"\n\n")
	flusher.Flush()
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	send := func(id string, data []byte) error {
		// Each line of the event is its own data: line, as SSE requires; the
		// browser joins them back with newlines.
		var b strings.Builder
		b.WriteString("id: " + id + "\nevent: cloudevent\n")
		for line := range strings.SplitSeq(string(data), "\n") {
			b.WriteString("data: " + strings.TrimSuffix(line, "\r") + "\n")
		}
		b.WriteString("\n")
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}
	notice := func(s string) error {
		if _, err := fmt.Fprintf(w, ": %s\n\n", s); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}
	_ = a.deliv.Stream(r.Context(), r.PathValue("name"), last, send, notice)
}

// maxAPIBody bounds a JSON body of the management API.
const maxAPIBody = 1 << 20

// decodeBody reads a JSON body strictly; unknown fields are errors, and a
// body over maxAPIBody is 413.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			problem.New(http.StatusRequestEntityTooLarge, "body-too-large", "the body is larger than the API's limit of 1 MiB").WithField("body").Write(w, r)
			return false
		}
		problem.New(http.StatusBadRequest, "malformed-json", "the body is not the expected JSON: "+err.Error()).WithField("body").Write(w, r)
		return false
	}
	return true
}

func intParam(w http.ResponseWriter, r *http.Request, name string, def, lo, hi int) (int, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		problem.New(http.StatusBadRequest, "invalid-parameter", fmt.Sprintf("%s: %q is not a whole number from %d to %d", name, v, lo, hi)).WithField(name).Write(w, r)
		return 0, false
	}
	return n, true
}

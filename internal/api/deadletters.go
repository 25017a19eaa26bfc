package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/ingress"
	"github.com/weir-dev/weir/internal/problem"
)

func (a *API) registerDeadLetters(mux *http.ServeMux, h func(http.HandlerFunc) http.Handler) {
	mux.Handle("GET /v1/deadletters", h(a.listDeadLetters))
	mux.Handle("POST /v1/deadletters/redrive", h(a.bulkRedrive))
	mux.Handle("GET /v1/deadletters/groups", h(a.deadLetterGroups))
	mux.Handle("GET /v1/deadletters/{id}", h(a.getDeadLetter))
	mux.Handle("POST /v1/deadletters/{id}/redrive", h(a.redriveOne))
	mux.Handle("POST /v1/deadletters/{id}/resolve", h(a.resolveDeadLetter))
	mux.Handle("DELETE /v1/deadletters/{id}", h(a.deleteDeadLetter))
}

// deadLetterFilter reads a filter from query parameters (listing) or a JSON
// body (bulk redrive) with the same names.
type deadLetterFilter struct {
	Subscription string `json:"subscription,omitempty"`
	Source       string `json:"source,omitempty"`
	Type         string `json:"type,omitempty"`
	Kind         string `json:"kind,omitempty"`
	Status       string `json:"status,omitempty"`
	Reason       string `json:"reason,omitempty"`
	EventID      string `json:"event_id,omitempty"`
	Cause        string `json:"cause,omitempty"`
	From         string `json:"from,omitempty"`
	To           string `json:"to,omitempty"`
	Cursor       string `json:"cursor,omitempty"`
	Limit        int    `json:"limit,omitempty"`
}

func (f deadLetterFilter) compile() (deadletter.Filter, *problem.Problem) {
	out := deadletter.Filter{Subscription: f.Subscription, Source: f.Source, Type: f.Type, Kind: f.Kind,
		Status: f.Status, Reason: f.Reason, EventID: f.EventID, Cause: f.Cause, Before: f.Cursor, Limit: f.Limit}
	if out.Status == "" {
		out.Status = deadletter.StatusOpen
	}
	switch out.Status {
	case deadletter.StatusOpen, deadletter.StatusRedriven, deadletter.StatusResolved, "all":
	default:
		return out, problem.New(http.StatusBadRequest, "invalid-parameter", "status: "+quote(f.Status)+" is not open, redriven, resolved or all").WithField("status")
	}
	if f.Kind != "" && f.Kind != deadletter.KindUndeliverable && f.Kind != deadletter.KindQuarantined && f.Kind != deadletter.KindSink {
		return out, problem.New(http.StatusBadRequest, "invalid-parameter", "kind: "+quote(f.Kind)+" is not undeliverable, quarantined or sink").WithField("kind")
	}
	for _, t := range []struct {
		name string
		in   string
		out  *time.Time
	}{{"from", f.From, &out.From}, {"to", f.To, &out.To}} {
		if t.in == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339, t.in)
		if err != nil {
			return out, problem.New(http.StatusBadRequest, "invalid-parameter", t.name+": "+quote(t.in)+" is not an RFC 3339 time (2026-11-30T09:00:00Z)").WithField(t.name)
		}
		*t.out = v
	}
	if f.Limit < 0 || f.Limit > 1000 {
		return out, problem.New(http.StatusBadRequest, "invalid-parameter", "limit: must be from 1 to 1000").WithField("limit")
	}
	return out, nil
}

// mayHandle is delivery's one rule of who may see and handle a dead letter.
func (a *API) mayHandle(r *http.Request, d *deadletter.DeadLetter) bool {
	return a.deliv.MayHandle(tokenOf(r), d)
}

// mayFilterBy checks a subscription= filter: a token without admin may only
// name a subscription that exists and that its roles cover, as on
// /v1/subscriptions/{name}; admins may name any, including deleted ones.
func (a *API) mayFilterBy(w http.ResponseWriter, r *http.Request, name string) bool {
	t := tokenOf(r)
	err := a.deliv.MayFilterBy(t, name)
	switch {
	case errors.Is(err, delivery.ErrNotFound):
		problem.New(http.StatusNotFound, "unknown-subscription", "there is no subscription named "+quote(name)).WithField("subscription").Write(w, r)
		return false
	case err != nil:
		id, _ := a.deliv.Identity(name)
		forbidden(w, r, "subscription", "token "+quote(t.Name)+" may not read the dead letters of subscription "+quote(name)+": it needs subscribe roles covering "+strings.Join(id.Types, ", "))
		return false
	}
	return true
}

// visibleTo is the listing's form of mayHandle.
func (a *API) visibleTo(r *http.Request) func(*deadletter.DeadLetter) bool {
	return a.deliv.VisibleTo(tokenOf(r))
}

// queryFilter reads the listing's filter parameters from the query.
func queryFilter(r *http.Request) deadLetterFilter {
	q := r.URL.Query()
	return deadLetterFilter{Subscription: q.Get("subscription"), Source: q.Get("source"), Type: q.Get("type"), Kind: q.Get("kind"),
		Status: q.Get("status"), Reason: q.Get("reason"), EventID: q.Get("event_id"), Cause: q.Get("cause"), From: q.Get("from"), To: q.Get("to")}
}

// visibleFilter compiles a listing's filter and limits it to the dead letters
// the token may handle, or answers why not (400, or the subscription=
// check's 403/404).
func (a *API) visibleFilter(w http.ResponseWriter, r *http.Request, qf deadLetterFilter) (deadletter.Filter, bool) {
	f, p := qf.compile()
	if p != nil {
		p.Write(w, r)
		return f, false
	}
	if !a.mayFilterBy(w, r, f.Subscription) {
		return f, false
	}
	f.Visible = a.visibleTo(r)
	return f, true
}

func (a *API) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	limit, ok := intParam(w, r, "limit", 100, 1, 1000)
	if !ok {
		return
	}
	qf := queryFilter(r)
	qf.Cursor, qf.Limit = r.URL.Query().Get("cursor"), limit
	f, ok := a.visibleFilter(w, r, qf)
	if !ok {
		return
	}
	list, next, err := a.deliv.DeadLetters().List(r.Context(), f)
	if err != nil {
		a.unavailable(r, err).Write(w, r)
		return
	}
	out := []*deadletter.DeadLetter{}
	out = append(out, list...)
	resp := map[string]any{"dead_letters": out}
	if next != "" {
		resp["next_cursor"] = next
	}
	writeJSON(w, http.StatusOK, resp)
}

// deadLetter finds the dead letter of the path and checks the token may handle it.
func (a *API) deadLetter(w http.ResponseWriter, r *http.Request) (*deadletter.DeadLetter, bool) {
	d, err := a.deliv.DeadLetters().Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, deadletter.ErrNotFound) {
		problem.New(http.StatusNotFound, "unknown-dead-letter", "there is no dead letter with id "+quote(r.PathValue("id"))).WithField("id").Write(w, r)
		return nil, false
	}
	if err != nil {
		a.unavailable(r, err).Write(w, r)
		return nil, false
	}
	if !a.mayHandle(r, d) {
		forbidden(w, r, "id", "token "+quote(tokenOf(r).Name)+" may not handle this dead letter")
		return nil, false
	}
	return d, true
}

func (a *API) getDeadLetter(w http.ResponseWriter, r *http.Request) {
	if d, ok := a.deadLetter(w, r); ok {
		writeJSON(w, http.StatusOK, d)
	}
}

// redriveOne sends one dead letter on. A quarantined event may come with a
// corrected payload ({"data": ...}); it is checked against its contract again
// and refused (422, the dead letter stays open) if it still breaks it.
func (a *API) redriveOne(w http.ResponseWriter, r *http.Request) {
	d, ok := a.deadLetter(w, r)
	if !ok {
		return
	}
	var body struct {
		Data json.RawMessage `json:"data,omitempty"`
	}
	if r.ContentLength != 0 && !decodeBody(w, r, &body) {
		return
	}
	if p := a.redrive(r, d, body.Data); p != nil {
		p.Write(w, r)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// redrive sends one dead letter on through delivery's Redrive and answers
// its refusals as problems.
func (a *API) redrive(r *http.Request, d *deadletter.DeadLetter, data json.RawMessage) *problem.Problem {
	return a.redriveProblem(r, d, a.deliv.Redrive(r.Context(), a.readmitter(), tokenOf(r), d, data))
}

// readmitter is how a redrive publishes a quarantined event again.
func (a *API) readmitter() *ingress.Readmitter {
	return &ingress.Readmitter{Publisher: a.pub, Window: a.dedupeWindow, Sources: a.sources}
}

// redriveProblem is the answer to a redrive of d that failed with err.
func (a *API) redriveProblem(r *http.Request, d *deadletter.DeadLetter, err error) *problem.Problem {
	var (
		closed   *delivery.ClosedError
		refused  *ingress.RefusedError
		unmarked *delivery.UnmarkedError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &closed):
		return problem.New(http.StatusConflict, "dead-letter-closed", closed.Error()).WithField("id")
	case errors.Is(err, delivery.ErrNotRedrivable):
		return problem.New(http.StatusConflict, "not-redrivable", err.Error()).WithField("id")
	case errors.Is(err, delivery.ErrNotCorrectable):
		return problem.New(http.StatusBadRequest, "invalid-redrive", "data: "+err.Error()).WithField("data")
	case errors.Is(err, delivery.ErrOtherIncarnation):
		return problem.New(http.StatusConflict, "unknown-subscription", "the subscription "+quote(d.Subscription)+" that gave up on this event was deleted; the one of that name now is another subscription, so the event is not sent to it; resolve this dead letter instead").WithField("subscription")
	case errors.Is(err, delivery.ErrNotFound):
		return problem.New(http.StatusConflict, "unknown-subscription", "the subscription "+quote(d.Subscription)+" no longer exists; resolve this dead letter instead").WithField("subscription")
	case errors.As(err, &refused):
		return refused.Problem
	case errors.As(err, &unmarked):
		p := a.unavailable(r, unmarked.Err)
		p.Detail = "the event was redriven, but the event bus is unavailable and the dead letter was not marked redriven; retry after Retry-After"
		return p
	}
	return a.unavailable(r, err)
}

// dryRunSample is how many ids a dry run names.
const dryRunSample = 10

// bulkRedrive redrives every open dead letter that matches a filter; with
// dry_run it only says how many it would try, and which.
func (a *API) bulkRedrive(w http.ResponseWriter, r *http.Request) {
	var body struct {
		deadLetterFilter
		DryRun bool `json:"dry_run,omitempty"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	body.Status = deadletter.StatusOpen
	if body.Limit == 0 {
		body.Limit = 1000
	}
	f, p := body.compile()
	if p != nil {
		p.Write(w, r)
		return
	}
	if !a.mayFilterBy(w, r, f.Subscription) {
		return
	}
	f.Visible = a.visibleTo(r)
	list, _, err := a.deliv.DeadLetters().List(r.Context(), f)
	if err != nil {
		a.unavailable(r, err).Write(w, r)
		return
	}
	if body.DryRun {
		sample := []string{}
		for _, d := range list[:min(len(list), dryRunSample)] {
			sample = append(sample, d.ID)
		}
		writeJSON(w, http.StatusOK, map[string]any{"dry_run": true, "would_redrive": len(list), "sample": sample})
		return
	}
	type failure struct {
		ID     string `json:"id"`
		Detail string `json:"detail"`
	}
	byID := make(map[string]*deadletter.DeadLetter, len(list))
	for _, d := range list {
		byID[d.ID] = d
	}
	res := a.deliv.BulkRedrive(r.Context(), a.readmitter(), tokenOf(r), list)
	redriven, failed := res.Redriven, []failure{}
	for _, f := range res.Failed {
		failed = append(failed, failure{ID: f.ID, Detail: a.redriveProblem(r, byID[f.ID], f.Err).Detail})
	}
	writeJSON(w, http.StatusOK, map[string]any{"redriven": redriven, "failed": failed})
}

func (a *API) resolveDeadLetter(w http.ResponseWriter, r *http.Request) {
	d, ok := a.deadLetter(w, r)
	if !ok {
		return
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	var closed *delivery.ClosedError
	err := a.deliv.Resolve(r.Context(), tokenOf(r), d, body.Reason)
	switch {
	case errors.Is(err, delivery.ErrNoReason):
		problem.New(http.StatusBadRequest, "invalid-parameter", "reason: "+err.Error()).WithField("reason").Write(w, r)
		return
	case errors.As(err, &closed):
		problem.New(http.StatusConflict, "dead-letter-closed", closed.Error()).WithField("id").Write(w, r)
		return
	case err != nil:
		a.unavailable(r, err).Write(w, r)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *API) deleteDeadLetter(w http.ResponseWriter, r *http.Request) {
	d, ok := a.deadLetter(w, r)
	if !ok {
		return
	}
	if strings.TrimSpace(r.URL.Query().Get("reason")) == "" {
		problem.New(http.StatusBadRequest, "invalid-parameter", "reason: say why this dead letter is deleted (?reason=...)").WithField("reason").Write(w, r)
		return
	}
	if err := a.deliv.DeadLetters().Delete(r.Context(), d.ID); err != nil {
		a.unavailable(r, err).Write(w, r)
		return
	}
	a.log.InfoContext(r.Context(), "dead letter deleted", "dead_letter_id", d.ID, "event_id", d.EventID, "token", tokenOf(r).Name, "reason", r.URL.Query().Get("reason"))
	w.WriteHeader(http.StatusNoContent)
}

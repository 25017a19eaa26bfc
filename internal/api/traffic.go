package api

import (
	"net/http"
	"time"

	"github.com/weir-dev/weir/internal/problem"
	"github.com/weir-dev/weir/internal/traffic"
)

// registerTraffic adds the live figures and the live tail, when the node keeps
// them.
func (a *API) registerTraffic(mux *http.ServeMux) {
	if a.traffic != nil {
		mux.Handle("GET /v1/traffic", a.auth(http.HandlerFunc(a.getTraffic)))
	}
	if a.tails != nil {
		mux.Handle("GET /v1/events/stream", a.auth(http.HandlerFunc(a.tailEvents)))
	}
}

// trafficSeries is a series with the time its type was last stored.
type trafficSeries struct {
	traffic.Series
	// LastSeen is when the type was last stored on the bus, by any node.
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// trafficBody is the answer of GET /v1/traffic.
type trafficBody struct {
	Since      time.Time        `json:"since"`
	At         time.Time        `json:"at"`
	Minutes    int              `json:"minutes"`
	Types      []trafficSeries  `json:"types"`
	Sources    []traffic.Series `json:"sources"`
	Deliveries []traffic.Series `json:"deliveries,omitempty"`
	Totals     *traffic.Totals  `json:"totals,omitempty"`
	Warnings   []string         `json:"warnings,omitempty"`
}

// getTraffic serves this node's per-minute figures, cut to what the token may
// see (traffic.Snapshot.For): the types it may publish or subscribe to, the
// sources it is bound to; deliveries, totals and the folded "(other)" keys,
// which mix everyone's traffic, only for admins.
func (a *API) getTraffic(w http.ResponseWriter, r *http.Request) {
	top, ok := intParam(w, r, "top", 0, 0, traffic.DefaultMaxTypes)
	if !ok {
		return
	}
	tok := tokenOf(r)
	snap := a.traffic.Snapshot().For(tok)
	body := trafficBody{Since: snap.Since, At: snap.At, Minutes: traffic.Minutes, Types: []trafficSeries{}, Sources: snap.Sources}
	if top > 0 && len(body.Sources) > top {
		body.Sources = body.Sources[:top]
	}
	var names []string
	for _, s := range snap.Types {
		if top > 0 && len(body.Types) == top {
			break
		}
		body.Types = append(body.Types, trafficSeries{Series: s})
		names = append(names, s.Key)
	}
	if traffic.MaySeeDeliveries(tok) {
		body.Deliveries = snap.Outcomes
		t := a.traffic.Totals()
		body.Totals = &t
	}
	seen, err := a.traffic.LastSeen(r.Context(), names)
	if err != nil {
		a.log.WarnContext(r.Context(), "last seen times not read from the bus", "error", err)
		body.Warnings = append(body.Warnings, "last_seen is this node's own figure for some types: the bus did not answer")
	}
	for i := range body.Types {
		body.Types[i].LastSeen = seen[body.Types[i].Key]
	}
	writeJSON(w, http.StatusOK, body)
}

// tailEvents follows the event stream live as server-sent events; browsers,
// which cannot set headers on an EventSource, may give the token as
// ?access_token=.
func (a *API) tailEvents(w http.ResponseWriter, r *http.Request) {
	a.tails.Handle(w, r, tokenOf(r), func(err error) *problem.Problem { return a.unavailable(r, err) }, a.log)
}

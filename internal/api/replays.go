package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/problem"
)

// replayRetryAfter is what a refused replay is told to wait: replays run for
// seconds to hours, so this is a polling interval, not a promise.
const replayRetryAfter = 30 * time.Second

func (a *API) startReplay(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.subscription(w, r); !ok {
		return
	}
	var body struct {
		From        string `json:"from"`
		To          string `json:"to,omitempty"`
		Rate        int    `json:"rate,omitempty"`
		FromArchive bool   `json:"from_archive,omitempty"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	req, err := delivery.ParseReplayRequest(body.From, body.To, body.Rate, body.FromArchive)
	var fe *field.Error
	if errors.As(err, &fe) {
		problem.New(http.StatusBadRequest, "invalid-parameter", fe.Error()).WithField(fe.Path).Write(w, r)
		return
	}
	rp, err := a.deliv.StartReplay(r.PathValue("name"), req)
	switch {
	case errors.Is(err, delivery.ErrTooManyReplays):
		p := problem.New(http.StatusTooManyRequests, "too-many-replays", err.Error())
		p.RetryAfter = replayRetryAfter
		p.Write(w, r)
		return
	case errors.Is(err, delivery.ErrNotFound):
		problem.New(http.StatusNotFound, "unknown-subscription", "there is no subscription named "+quote(r.PathValue("name"))).WithField("name").Write(w, r)
		return
	case err != nil:
		a.writeError(w, r, "invalid-replay", err)
		return
	}
	w.Header().Set("Location", "/v1/replays/"+rp.ID)
	writeJSON(w, http.StatusAccepted, rp)
}

// replay finds the replay of the path and checks the token may see it: as
// with subscriptions and dead letters, an unknown id is 404 and a replay of a
// subscription the token's subscribe roles do not cover is 403.
func (a *API) replay(w http.ResponseWriter, r *http.Request) (*delivery.Replay, bool) {
	id := r.PathValue("id")
	rp, err := a.deliv.Replay(id)
	if err != nil {
		problem.New(http.StatusNotFound, "unknown-replay", err.Error()).WithField("id").Write(w, r)
		return nil, false
	}
	if !a.mayReplay(r, rp) {
		forbidden(w, r, "id", "token "+quote(tokenOf(r).Name)+" may not see or cancel replay "+quote(id)+": it needs subscribe roles covering subscription "+quote(rp.Subscription))
		return nil, false
	}
	return rp, true
}

// mayReplay: the rule is delivery's (Manager.MayReplay), shared with the portal.
func (a *API) mayReplay(r *http.Request, rp *delivery.Replay) bool {
	return a.deliv.MayReplay(r.Context(), tokenOf(r), rp)
}

func (a *API) getReplay(w http.ResponseWriter, r *http.Request) {
	if rp, ok := a.replay(w, r); ok {
		writeJSON(w, http.StatusOK, rp)
	}
}

func (a *API) cancelReplay(w http.ResponseWriter, r *http.Request) {
	rp, ok := a.replay(w, r)
	if !ok {
		return
	}
	rp, err := a.deliv.CancelReplay(rp.ID)
	if err != nil {
		problem.New(http.StatusNotFound, "unknown-replay", err.Error()).WithField("id").Write(w, r)
		return
	}
	writeJSON(w, http.StatusOK, rp)
}

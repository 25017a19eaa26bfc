package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/weir-dev/weir/internal/delivery"
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
	req := delivery.ReplayRequest{Rate: body.Rate, FromArchive: body.FromArchive}
	for _, p := range []struct {
		name, in string
		t        *time.Time
		seq      *uint64
	}{{"from", body.From, &req.From, &req.FromSeq}, {"to", body.To, &req.To, &req.ToSeq}} {
		if p.in == "" {
			continue
		}
		if t, err := time.Parse(time.RFC3339, p.in); err == nil {
			*p.t = t
			continue
		}
		var n uint64
		if err := json.Unmarshal([]byte(p.in), &n); err == nil && n > 0 {
			*p.seq = n
			continue
		}
		problem.New(http.StatusBadRequest, "invalid-parameter", p.name+": "+quote(p.in)+" is neither an RFC 3339 time nor a stream sequence").WithField(p.name).Write(w, r)
		return
	}
	if body.Rate < 0 || body.Rate > 100000 {
		problem.New(http.StatusBadRequest, "invalid-parameter", "rate: events per second, from 1 to 100000").WithField("rate").Write(w, r)
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

// mayReplay: a token may handle a replay when it may read the replay's
// subscription; once that subscription is gone (deleted, or replaced by a
// new one of the same name), the types it had decide.
func (a *API) mayReplay(r *http.Request, rp *delivery.Replay) bool {
	types := rp.Types()
	if v, err := a.deliv.Get(r.Context(), rp.Subscription); err == nil && v.UID == rp.SubscriptionUID() {
		types = v.Spec.Types
	}
	if len(types) == 0 {
		return tokenOf(r).IsAdmin() // CanSubscribe covers an empty list
	}
	return tokenOf(r).CanSubscribe(types)
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

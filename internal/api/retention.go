package api

import (
	"net/http"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/problem"
	"github.com/weir-dev/weir/internal/retention"
)

func (a *API) registerRetention(mux *http.ServeMux) {
	if a.keeper == nil {
		return
	}
	h := func(f http.HandlerFunc) http.Handler { return a.auth(f) }
	mux.Handle("GET /v1/retention", h(a.getRetention))
	mux.Handle("PUT /v1/retention", h(a.putRetention))
	if a.archiveStatus != nil {
		mux.Handle("GET /v1/archive", h(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, a.archiveStatus())
		}))
	}
}

// retentionBody is the policy on the wire, durations as "720h".
type retentionBody struct {
	MaxAge   config.Duration `json:"max_age"`
	MaxBytes int64           `json:"max_bytes,omitempty"`
	Rules    []struct {
		Pattern string          `json:"pattern"`
		MaxAge  config.Duration `json:"max_age"`
	} `json:"rules,omitempty"`
}

func toBody(p retention.Policy) retentionBody {
	b := retentionBody{MaxAge: config.Duration(p.MaxAge), MaxBytes: p.MaxBytes}
	for _, r := range p.Rules {
		b.Rules = append(b.Rules, struct {
			Pattern string          `json:"pattern"`
			MaxAge  config.Duration `json:"max_age"`
		}{r.Pattern, config.Duration(r.MaxAge)})
	}
	return b
}

func (a *API) getRetention(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, toBody(a.keeper.Policy()))
}

// putRetention changes retention live: the stream's limits change at once and
// nothing inside the new limits is lost. weir.yaml applies again at the next start.
func (a *API) putRetention(w http.ResponseWriter, r *http.Request) {
	if !tokenOf(r).IsAdmin() {
		forbidden(w, r, "Authorization", "only admin tokens change retention")
		return
	}
	var body retentionBody
	if !decodeBody(w, r, &body) {
		return
	}
	p := retention.Policy{MaxAge: time.Duration(body.MaxAge), MaxBytes: body.MaxBytes}
	for i, rule := range body.Rules {
		if err := config.ValidPattern(rule.Pattern); err != nil {
			problem.New(http.StatusBadRequest, "invalid-retention", "rules["+itoa(int64(i))+"].pattern: "+err.Error()).WithField("rules["+itoa(int64(i))+"].pattern").Write(w, r)
			return
		}
		p.Rules = append(p.Rules, retention.Rule{Pattern: rule.Pattern, MaxAge: time.Duration(rule.MaxAge)})
	}
	if err := p.Validate(); err != nil {
		a.writeError(w, r, "invalid-retention", err)
		return
	}
	if err := a.keeper.Apply(r.Context(), p); err != nil {
		// Apply checked p again; what fails now is the stream's update.
		a.unavailable(r, err).Write(w, r)
		return
	}
	a.log.InfoContext(r.Context(), "retention changed", "token", tokenOf(r).Name, "max_age", p.MaxAge.String(), "rules", len(p.Rules))
	writeJSON(w, http.StatusOK, toBody(p))
}

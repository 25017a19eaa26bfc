package api

import (
	"net/http"

	"github.com/weir-dev/weir/internal/deadletter"
)

// groupedFilter is a group's filter: the request's own parameters and the
// group's cause, with the names GET /v1/deadletters and the bulk redrive take.
func groupedFilter(qf deadLetterFilter, cause string) map[string]string {
	out := map[string]string{"cause": cause}
	for k, v := range map[string]string{"subscription": qf.Subscription, "source": qf.Source, "type": qf.Type, "kind": qf.Kind,
		"status": qf.Status, "reason": qf.Reason, "event_id": qf.EventID, "from": qf.From, "to": qf.To} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// deadLetterGroups counts the dead letters a filter selects by cause, each
// group with the filter that selects it.
func (a *API) deadLetterGroups(w http.ResponseWriter, r *http.Request) {
	maxScan, ok := intParam(w, r, "max_scan", deadletter.MaxGroupScan, 1, deadletter.MaxGroupScan)
	if !ok {
		return
	}
	qf := queryFilter(r)
	f, ok := a.visibleFilter(w, r, qf)
	if !ok {
		return
	}
	g, err := a.deliv.DeadLetters().Groups(r.Context(), f, maxScan)
	if err != nil {
		a.unavailable(r, err).Write(w, r)
		return
	}
	type group struct {
		deadletter.Group
		Filter map[string]string `json:"filter"`
	}
	groups := make([]group, 0, len(g.Groups))
	for _, gr := range g.Groups {
		groups = append(groups, group{Group: gr, Filter: groupedFilter(qf, gr.Key)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": groups, "scanned": g.Scanned, "truncated": g.Truncated})
}

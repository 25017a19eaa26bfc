package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/problem"
)

// previewFilter runs a filter on the latest events of some types, for
// whoever may subscribe to them (the right a subscription of those types
// would need).
func (a *API) previewFilter(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Types  []string `json:"types"`
		Filter string   `json:"filter"`
		N      int      `json:"n,omitempty"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.N < 0 || body.N > delivery.PreviewMax {
		problem.New(http.StatusBadRequest, "invalid-preview", "n: must be from 1 to 100 (default 50)").WithField("n").Write(w, r)
		return
	}
	if err := delivery.CheckPreviewTypes(body.Types); err != nil {
		a.writeError(w, r, "invalid-preview", err)
		return
	}
	tok := tokenOf(r)
	if !tok.CanSubscribe(body.Types) {
		forbidden(w, r, "types", "token "+quote(tok.Name)+" may not read events of "+strings.Join(body.Types, ", ")+": it needs subscribe roles covering them")
		return
	}
	p, err := a.deliv.PreviewFilter(r.Context(), body.Types, body.Filter, body.N)
	var fe *field.Error
	if errors.As(err, &fe) {
		a.writeError(w, r, "invalid-filter", err)
		return
	}
	if err != nil {
		a.unavailable(r, err).Write(w, r)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/problem"
)

// Bounds of a backfill request: it is admin-only, but its text goes to the
// database.
const (
	maxBackfillTable = 200
	maxBackfillWhere = 4096
)

// registerCDC adds the cdc routes, for admin tokens only: a source reads
// every row of its tables, and pause and drop stop capture.
func (a *API) registerCDC(mux *http.ServeMux) {
	if a.cdc == nil {
		return
	}
	h := func(f http.HandlerFunc) http.Handler {
		return a.auth(adminOnly("only admin tokens may read or change cdc sources: they carry every row of their tables", f))
	}
	mux.Handle("GET /v1/cdc", h(a.listCDC))
	mux.Handle("GET /v1/cdc/{name}", h(a.getCDC))
	mux.Handle("POST /v1/cdc/{name}/pause", h(a.pauseCDC))
	mux.Handle("POST /v1/cdc/{name}/resume", h(a.resumeCDC))
	mux.Handle("POST /v1/cdc/{name}/backfill", h(a.backfillCDC))
	mux.Handle("POST /v1/cdc/{name}/drop", h(a.dropCDC))
}

// cdcError answers a manager's error as a problem.
func cdcError(w http.ResponseWriter, r *http.Request, name string, err error) {
	var be *cdc.BackfillError
	switch {
	case errors.Is(err, cdc.ErrNotFound):
		problem.New(http.StatusNotFound, "unknown-cdc-source", "there is no cdc source named "+quote(name)).WithField("name").Write(w, r)
	case errors.Is(err, cdc.ErrUnsupported):
		problem.New(http.StatusConflict, "cdc-unsupported", "the reader of cdc source "+quote(name)+" cannot do this").Write(w, r)
	case errors.Is(err, cdc.ErrNotPaused):
		problem.New(http.StatusConflict, "cdc-not-paused", "cdc source "+quote(name)+" is running: pause it (POST /v1/cdc/"+name+"/pause), then drop it").Write(w, r)
	case errors.Is(err, cdc.ErrBackfillRunning):
		problem.New(http.StatusConflict, "cdc-backfill-running", "a backfill of cdc source "+quote(name)+" is still running: see its progress at GET /v1/cdc/"+name+", then ask again").Write(w, r)
	case errors.As(err, &be):
		problem.New(http.StatusBadRequest, "invalid-backfill", be.Field+": "+be.Reason).WithField(be.Field).Write(w, r)
	case errors.Is(err, cdc.ErrPaused):
		problem.New(http.StatusConflict, "cdc-paused", "cdc source "+quote(name)+" is paused or not running: resume it first").Write(w, r)
	case errors.Is(err, bus.ErrUnavailable):
		problem.New(http.StatusServiceUnavailable, "unavailable", err.Error()).Write(w, r)
	default:
		problem.New(http.StatusInternalServerError, "cdc-failed", err.Error()).Write(w, r)
	}
}

func (a *API) listCDC(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"sources": a.cdc.List(r.Context())})
}

func (a *API) getCDC(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st, err := a.cdc.Status(r.Context(), name)
	if err != nil {
		cdcError(w, r, name, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *API) pauseCDC(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st, err := a.cdc.Pause(r.Context(), name)
	if err != nil {
		cdcError(w, r, name, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *API) resumeCDC(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st, err := a.cdc.Resume(r.Context(), name)
	if err != nil {
		cdcError(w, r, name, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// backfillBody is POST /v1/cdc/{name}/backfill's body.
type backfillBody struct {
	// Table is schema.table (PostgreSQL) or database.table (MySQL).
	Table string `json:"table"`
	// Where is an optional SQL condition on the table's rows.
	Where string `json:"where"`
}

// checkBackfill names the field of a backfill request that is refused, or "".
func checkBackfill(b backfillBody) (string, string) {
	switch {
	case b.Table == "":
		return "table", "required, as schema.table"
	case len(b.Table) > maxBackfillTable || !strings.Contains(b.Table, ".") || strings.ContainsAny(b.Table, " \t\r\n;\"'`"):
		return "table", "must be schema.table (plain names, at most 200 characters)"
	case len(b.Where) > maxBackfillWhere:
		return "where", "is longer than 4096 characters"
	case strings.ContainsRune(b.Where, 0):
		return "where", "must not contain NUL"
	}
	return "", ""
}

func (a *API) backfillCDC(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !a.cdc.Has(name) { // an unknown source is named before its body is judged
		cdcError(w, r, name, cdc.ErrNotFound)
		return
	}
	var body backfillBody
	if !decodeBody(w, r, &body) {
		return
	}
	if f, reason := checkBackfill(body); f != "" {
		problem.New(http.StatusBadRequest, "invalid-backfill", f+": "+reason).WithField(f).Write(w, r)
		return
	}
	id, err := a.cdc.Backfill(r.Context(), name, body.Table, body.Where)
	if err != nil {
		cdcError(w, r, name, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "table": body.Table, "where": body.Where})
}

func (a *API) dropCDC(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	removed, err := a.cdc.Drop(r.Context(), name)
	if err != nil {
		cdcError(w, r, name, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "removed": removed,
		"next": "remove cdc." + name + " from weir.yaml; resuming the source instead starts it afresh"})
}

package api

import (
	"errors"
	"net/http"

	"github.com/weir-dev/weir/internal/ingress"
	"github.com/weir-dev/weir/internal/problem"
)

// registerSources adds the webhook sources' routes. Every token may list and
// read sources: a listing carries no secret, only what a sender is told (the
// URL, the scheme, the type). Only admins create, replace and delete them,
// and read their request log, which shows senders' addresses.
func (a *API) registerSources(mux *http.ServeMux) {
	if a.sources == nil {
		return
	}
	h := func(f http.HandlerFunc) http.Handler { return a.auth(f) }
	mux.Handle("GET /v1/sources", h(a.listSources))
	mux.Handle("POST /v1/sources", h(a.createSource))
	mux.Handle("GET /v1/sources/{name}", h(a.getSource))
	mux.Handle("PUT /v1/sources/{name}", h(a.putSource))
	mux.Handle("DELETE /v1/sources/{name}", h(a.deleteSource))
	if a.requests != nil {
		mux.Handle("GET /v1/sources/{name}/requests", h(a.sourceRequests))
	}
}

// mayManage answers 403 unless the token may manage a source like spec
// (ingress.MayManageSource: admins, or a token whose publish roles cover the
// source's one fixed type).
func (a *API) mayManage(w http.ResponseWriter, r *http.Request, spec ingress.SourceSpec) bool {
	if t := tokenOf(r); !ingress.MayManageSource(t, spec) {
		forbidden(w, r, "type", "token "+quote(t.Name)+" may not "+r.Method+" "+r.URL.Path+": "+ingress.ErrSourceNotYours.Error())
		return false
	}
	return true
}

// existing is the source named in the path, if the token may manage it.
func (a *API) existing(w http.ResponseWriter, r *http.Request) (ingress.SourceView, bool) {
	v, err := a.sources.Get(r.PathValue("name"))
	if err != nil {
		a.sourceError(w, r, err)
		return v, false
	}
	return v, a.mayManage(w, r, v.SourceSpec)
}

func (a *API) listSources(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"sources": a.sources.List()})
}

func (a *API) getSource(w http.ResponseWriter, r *http.Request) {
	v, err := a.sources.Get(r.PathValue("name"))
	if err != nil {
		a.sourceError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *API) createSource(w http.ResponseWriter, r *http.Request) {
	var spec ingress.SourceSpec
	if !decodeBody(w, r, &spec) || !a.mayManage(w, r, spec) {
		return
	}
	c, err := a.sources.Create(r.Context(), spec, tokenOf(r).Name)
	if err != nil {
		a.sourceError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/sources/"+c.Name)
	w.Header().Set("Cache-Control", "no-store") // the secret is in the answer
	writeJSON(w, http.StatusCreated, c)
}

func (a *API) putSource(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.existing(w, r); !ok {
		return
	}
	var spec ingress.SourceSpec
	if !decodeBody(w, r, &spec) || !a.mayManage(w, r, spec) {
		return
	}
	c, err := a.sources.Replace(r.Context(), r.PathValue("name"), spec, tokenOf(r).Name)
	if err != nil {
		a.sourceError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, c)
}

func (a *API) deleteSource(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.existing(w, r); !ok {
		return
	}
	if err := a.sources.Delete(r.Context(), r.PathValue("name")); err != nil {
		a.sourceError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// sourceRequests answers the source's last requests, newest first.
func (a *API) sourceRequests(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := a.existing(w, r); !ok {
		return
	}
	limit, ok := intParam(w, r, "limit", ingress.RequestsPerSource, 1, ingress.RequestsPerSource)
	if !ok {
		return
	}
	recs, err := a.requests.Recent(r.Context(), name, limit)
	if err != nil {
		a.writeError(w, r, "invalid-parameter", err)
		return
	}
	if recs == nil {
		recs = []ingress.RequestRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": recs})
}

// sourceError answers an error of the sources service by its type.
func (a *API) sourceError(w http.ResponseWriter, r *http.Request, err error) {
	var se *ingress.SourceError
	if !errors.As(err, &se) {
		a.writeError(w, r, "invalid-source", err)
		return
	}
	status, kind := http.StatusConflict, ""
	switch {
	case errors.Is(err, ingress.ErrSourceNotFound):
		status, kind = http.StatusNotFound, "unknown-source"
	case errors.Is(err, ingress.ErrSourceDeclaredInConfig):
		kind = "declared-in-config"
	case errors.Is(err, ingress.ErrSourceExists):
		kind = "source-exists"
	case errors.Is(err, ingress.ErrSourceChanged):
		kind = "source-changed"
	case errors.Is(err, ingress.ErrTooManySources):
		kind = "too-many-sources"
	default:
		a.writeError(w, r, "invalid-source", err)
		return
	}
	problem.New(status, kind, se.Detail).WithField("name").Write(w, r)
}

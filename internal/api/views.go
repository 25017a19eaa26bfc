package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/problem"
	"github.com/weir-dev/weir/internal/view"
)

// registerViews adds the views' routes. Reads need admin, read:views or
// read:views:<name>; a rebuild needs admin.
//
// CORS applies to these routes only: they are the ones a browser page
// (Retool, Appsmith) reads with a token made for it. The rest of the API
// changes things or shows more than one view, and stays closed to scripts of
// other origins, as browsers keep it by default.
func (a *API) registerViews(mux *http.ServeMux) {
	if a.views == nil {
		return
	}
	read := func(f http.HandlerFunc) http.Handler { return a.cors(a.auth(f)) }
	mux.Handle("GET /v1/views", read(a.listViews))
	mux.Handle("GET /v1/views/{name}", read(a.readView))
	mux.Handle("GET /v1/views/{name}/series", read(a.viewSeries))
	mux.Handle("GET /v1/views/{name}/{key}", read(a.viewKey))
	mux.Handle("POST /v1/views/{name}/rebuild", a.auth(http.HandlerFunc(a.rebuildView)))
	preflight := a.cors(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, p := range []string{"/v1/views", "/v1/views/{name}", "/v1/views/{name}/series", "/v1/views/{name}/{key}"} {
		mux.Handle("OPTIONS "+p, preflight)
	}
}

// cors answers a request from a configured origin with that origin in
// Access-Control-Allow-Origin, and a preflight (OPTIONS with
// Access-Control-Request-Method) for GET with the Authorization header. A
// request from any other origin gets no CORS header, which browsers take as
// a refusal.
func (a *API) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		allowed := origin != "" && slices.Contains(a.corsOrigins, origin)
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
		}
		if r.Method == http.MethodOptions {
			if allowed && r.Header.Get("Access-Control-Request-Method") != "" {
				w.Header().Set("Access-Control-Allow-Methods", "GET")
				w.Header().Set("Access-Control-Allow-Headers", "Authorization")
				w.Header().Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// mayRead answers 403 unless the token may read view name.
func mayRead(w http.ResponseWriter, r *http.Request, name string) bool {
	if t := tokenOf(r); !t.CanReadView(name) {
		forbidden(w, r, "Authorization", "token "+quote(t.Name)+" may not read view "+quote(name)+": it needs the role read:views or read:views:"+name)
		return false
	}
	return true
}

func (a *API) listViews(w http.ResponseWriter, r *http.Request) {
	t := tokenOf(r)
	items := []view.Info{}
	for _, i := range a.views.List() {
		if t.CanReadView(i.Name) {
			items = append(items, i)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *API) readView(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !mayRead(w, r, name) {
		return
	}
	q := r.URL.Query()
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			a.viewError(w, r, field.Errorf("limit", "%s is not a number", quote(s)))
			return
		}
		limit = n
	}
	items, next, err := a.views.Page(r.Context(), name, q.Get("prefix"), q.Get("cursor"), limit)
	if err != nil {
		a.viewError(w, r, err)
		return
	}
	if items == nil {
		items = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next": next})
}

func (a *API) viewKey(w http.ResponseWriter, r *http.Request) {
	name, key := r.PathValue("name"), r.PathValue("key")
	if !mayRead(w, r, name) {
		return
	}
	raw, err := a.views.Get(r.Context(), name, key)
	if err != nil {
		a.viewError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(raw, '\n'))
}

func (a *API) viewSeries(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !mayRead(w, r, name) {
		return
	}
	// A latest view has no series: "series" is then one of its keys.
	if s := a.views.Spec(name); s != nil && s.Config.Kind != "count" {
		r.SetPathValue("key", "series")
		a.viewKey(w, r)
		return
	}
	q := r.URL.Query()
	sq := view.SeriesQuery{Cursor: q.Get("cursor"), By: map[string]string{}, To: time.Now()}
	for k, vs := range q {
		switch k {
		case "cursor", "prefix":
		case "from", "to":
			t, err := time.Parse(time.RFC3339, vs[0])
			if err != nil {
				a.viewError(w, r, field.Errorf(k, "%s is not an RFC 3339 time (2026-12-01T12:00:00Z)", quote(vs[0])))
				return
			}
			if k == "from" {
				sq.From = t
			} else {
				sq.To = t
			}
		case "limit":
			n, err := strconv.Atoi(vs[0])
			if err != nil {
				a.viewError(w, r, field.Errorf("limit", "%s is not a number", quote(vs[0])))
				return
			}
			sq.Limit = n
		default:
			sq.By[k] = vs[0]
		}
	}
	if !q.Has("from") {
		a.viewError(w, r, field.Errorf("from", "required: the start of the range, an RFC 3339 time"))
		return
	}
	points, next, err := a.views.Series(r.Context(), name, sq)
	if err != nil {
		a.viewError(w, r, err)
		return
	}
	if points == nil {
		points = []view.Point{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": points, "next": next})
}

func (a *API) rebuildView(w http.ResponseWriter, r *http.Request) {
	if t := tokenOf(r); !t.IsAdmin() {
		forbidden(w, r, "Authorization", "only admin tokens may rebuild a view")
		return
	}
	name := r.PathValue("name")
	if _, err := a.views.Rebuild(r.Context(), name); err != nil {
		a.viewError(w, r, err)
		return
	}
	i, _ := a.views.Info(name)
	writeJSON(w, http.StatusAccepted, i)
}

// viewError answers the views' own errors, then the shared ones.
func (a *API) viewError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, view.ErrUnknownView):
		problem.New(http.StatusNotFound, "unknown-view", "there is no view "+quote(r.PathValue("name"))).Write(w, r)
	case errors.Is(err, view.ErrUnknownKey):
		problem.New(http.StatusNotFound, "unknown-view-key", "view "+quote(r.PathValue("name"))+" holds no key "+quote(r.PathValue("key"))).WithField("key").Write(w, r)
	case errors.Is(err, view.ErrRebuilding):
		problem.New(http.StatusConflict, "view-rebuilding", err.Error()).Write(w, r)
	default:
		a.writeError(w, r, "invalid-view-query", err)
	}
}

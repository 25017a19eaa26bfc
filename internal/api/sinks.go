package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/problem"
	"github.com/weir-dev/weir/internal/sink"
)

// registerSinks adds the sink routes. Every one is for admin tokens only:
// a sink holds a store's credentials and reads every event of its types.
func (a *API) registerSinks(mux *http.ServeMux) {
	if a.sinks == nil {
		return
	}
	h := func(f http.HandlerFunc) http.Handler {
		return a.auth(adminOnly("only admin tokens may read or change sinks: a sink holds a store's credentials", f))
	}
	mux.Handle("GET /v1/sinks", h(a.listSinks))
	mux.Handle("POST /v1/sinks", h(a.createSink))
	mux.Handle("GET /v1/sinks/{name}", h(a.getSink))
	mux.Handle("PUT /v1/sinks/{name}", h(a.putSink))
	mux.Handle("DELETE /v1/sinks/{name}", h(a.deleteSink))
	mux.Handle("POST /v1/sinks/{name}/pause", h(a.setSinkState(sink.StateDisabled)))
	mux.Handle("POST /v1/sinks/{name}/resume", h(a.setSinkState(sink.StateActive)))
	mux.Handle("POST /v1/sinks/{name}/replay", h(a.replaySink))
}

// adminOnly refuses tokens without the admin role.
// adminOnly answers 403 with why to every token but an admin's.
func adminOnly(why string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !tokenOf(r).IsAdmin() {
			forbidden(w, r, "Authorization", why)
			return
		}
		next(w, r)
	}
}

func (a *API) unknownSink(w http.ResponseWriter, r *http.Request, name string) {
	problem.New(http.StatusNotFound, "unknown-sink", "there is no sink named "+quote(name)).WithField("name").Write(w, r)
}

func (a *API) listSinks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"sinks": a.sinks.List(r.Context())})
}

func (a *API) getSink(w http.ResponseWriter, r *http.Request) {
	v, err := a.sinks.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		a.unknownSink(w, r, r.PathValue("name"))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// sinkBody is the body of POST and PUT: a sink with its name.
type sinkBody struct {
	Name string `json:"name"`
	config.Sink
}

func (a *API) createSink(w http.ResponseWriter, r *http.Request) { a.writeSink(w, r, "", false) }

func (a *API) putSink(w http.ResponseWriter, r *http.Request) {
	a.writeSink(w, r, r.PathValue("name"), true)
}

func (a *API) writeSink(w http.ResponseWriter, r *http.Request, name string, replace bool) {
	var body sinkBody
	if !decodeBody(w, r, &body) {
		return
	}
	if name == "" {
		name = body.Name
	} else if body.Name != "" && body.Name != name {
		problem.New(http.StatusBadRequest, "invalid-sink", "the body's name "+quote(body.Name)+" differs from the URL's "+quote(name)).WithField("name").Write(w, r)
		return
	}
	if name == "" {
		problem.New(http.StatusBadRequest, "invalid-sink", "name: required").WithField("name").Write(w, r)
		return
	}
	err := a.sinks.Create(r.Context(), name, &body.Sink, replace)
	switch {
	case errors.Is(err, sink.ErrDeclaredInConfig):
		problem.New(http.StatusConflict, "declared-in-config", err.Error()).WithField("name").Write(w, r)
		return
	case errors.Is(err, sink.ErrExists):
		problem.New(http.StatusConflict, "sink-exists", "a sink named "+quote(name)+" already exists; use PUT /v1/sinks/"+name+" to replace it").WithField("name").Write(w, r)
		return
	case err != nil:
		a.writeError(w, r, "invalid-sink", err)
		return
	}
	v, err := a.sinks.Get(r.Context(), name)
	if err != nil {
		a.writeError(w, r, "invalid-sink", err)
		return
	}
	status := http.StatusCreated
	if replace {
		status = http.StatusOK
	}
	w.Header().Set("Location", "/v1/sinks/"+name)
	writeJSON(w, status, v)
}

func (a *API) deleteSink(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	err := a.sinks.Delete(r.Context(), name)
	switch {
	case errors.Is(err, sink.ErrNotFound):
		a.unknownSink(w, r, name)
	case errors.Is(err, sink.ErrDeclaredInConfig):
		problem.New(http.StatusConflict, "declared-in-config", err.Error()).WithField("name").Write(w, r)
	case err != nil:
		a.writeError(w, r, "invalid-sink", err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (a *API) setSinkState(state string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		reason := ""
		if state == sink.StateDisabled {
			reason = "paused through the API by token " + quote(tokenOf(r).Name)
		}
		err := a.sinks.SetState(r.Context(), name, state, reason)
		switch {
		case errors.Is(err, sink.ErrNotFound):
			a.unknownSink(w, r, name)
			return
		case err != nil:
			a.writeError(w, r, "invalid-sink", err)
			return
		}
		v, err := a.sinks.Get(r.Context(), name)
		if err != nil {
			a.unknownSink(w, r, name)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (a *API) replaySink(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := a.sinks.Get(r.Context(), name); err != nil {
		a.unknownSink(w, r, name)
		return
	}
	var body struct {
		From    string `json:"from,omitempty"`
		FromSeq uint64 `json:"from_seq,omitempty"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	var from sink.ReplayFrom
	if body.From != "" {
		t, err := time.Parse(time.RFC3339Nano, body.From)
		if err != nil {
			problem.New(http.StatusBadRequest, "invalid-replay", "from: "+quote(body.From)+" is not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)").WithField("from").Write(w, r)
			return
		}
		from.Time = t
	}
	from.Seq = body.FromSeq
	out, err := a.sinks.Replay(r.Context(), name, from)
	switch {
	case errors.Is(err, sink.ErrNotFound):
		a.unknownSink(w, r, name)
		return
	case err != nil:
		a.writeError(w, r, "invalid-replay", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

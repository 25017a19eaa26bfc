package api

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/problem"
)

// busRetryAfter is what a request refused for want of the bus is told to
// wait: the bus reconnects within seconds, as ingress tells webhook senders.
const busRetryAfter = 5 * time.Second

// writeError answers err in the one way every handler shares, deciding by the
// error's type and never by its text:
//   - a *field.Error is a 400 of kind (invalid-subscription, invalid-replay ...)
//     naming the field, with the error's sentence as detail;
//   - bus.ErrUnavailable is a 503 bus-unavailable with Retry-After;
//   - anything else is a 500 internal with a correlation id; the cause is
//     logged under that id and never sent to the client.
//
// Handlers check their own sentinels (not found, exists ...) before calling it.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, kind string, err error) {
	if p := a.problemOf(r, kind, err); p != nil {
		p.Write(w, r)
	}
}

// problemOf is writeError's answer, for handlers that collect answers (a
// bulk redrive lists one per dead letter); nil for a nil err.
func (a *API) problemOf(r *http.Request, kind string, err error) *problem.Problem {
	var fe *field.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return problem.New(http.StatusBadRequest, kind, fe.Error()).WithField(fe.Path)
	case errors.Is(err, bus.ErrUnavailable):
		return a.unavailable(r, err)
	}
	return a.internal(r, err)
}

// unavailable is the 503 answer for a bus that cannot serve the request; the
// cause goes to the log (at warn: the bus being away is not weir's fault).
func (a *API) unavailable(r *http.Request, err error) *problem.Problem {
	a.log.WarnContext(r.Context(), "event bus unavailable", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	p := problem.New(http.StatusServiceUnavailable, "bus-unavailable",
		"the event bus is unavailable, so nothing was changed; retry after Retry-After")
	p.RetryAfter = busRetryAfter
	return p
}

// internal is the 500 answer: a correlation id the client can quote, and the
// cause in the log under the same id, with the request's method and path.
func (a *API) internal(r *http.Request, err error) *problem.Problem {
	log := a.log.With(slog.String("method", r.Method), slog.String("path", r.URL.Path))
	return problem.Internal(r.Context(), log, "internal", err)
}

package tail

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/problem"
	"github.com/weir-dev/weir/internal/token"
)

// Handle answers one request for a live tail, as tok: the types parameter,
// where to resume (ResumeAfter), the tail itself as an event stream
// (Serve), and every refusal as problem+json (Refusal). unavailable answers
// a tail that could not open because the bus did not answer. GET
// /v1/events/stream and the portal's stream differ only in how they find
// tok and word that answer.
func (t *Tailer) Handle(w http.ResponseWriter, r *http.Request, tok *token.Token, unavailable func(error) *problem.Problem, log *slog.Logger) {
	patterns := Patterns(r.URL.Query()["types"])
	since, err := ResumeAfter(r)
	var fe *field.Error
	if errors.As(err, &fe) {
		problem.New(http.StatusBadRequest, "invalid-parameter", fe.Error()).WithField(fe.Path).Write(w, r)
		return
	}
	f, err := t.Open(r.Context(), Request{Token: tok, Patterns: patterns, Since: since})
	if err != nil {
		p := Refusal(err)
		if p == nil {
			p = unavailable(err)
		}
		p.Write(w, r)
		return
	}
	defer f.Close()
	err = Serve(w, f, patterns)
	switch {
	case errors.Is(err, ErrNoStreaming):
		problem.New(http.StatusInternalServerError, "internal", err.Error()).Write(w, r)
	case err != nil && r.Context().Err() == nil:
		log.DebugContext(r.Context(), "live tail ended", slog.Any("error", err))
	}
}

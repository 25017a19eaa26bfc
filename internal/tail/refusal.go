package tail

import (
	"errors"
	"net/http"
	"time"

	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/problem"
)

// Refusal is the answer to a tail that could not open, the same for GET
// /v1/events/stream and the portal's stream: 400 invalid-parameter naming
// the field, 403 forbidden naming types, 429 too-many-tails with
// Retry-After, 503 bus-unavailable for a node that is stopping. It is nil
// for any other error: the bus did not answer, which the caller logs and
// answers 503 itself.
func Refusal(err error) *problem.Problem {
	var fe *field.Error
	var forbid *ForbiddenError
	switch {
	case errors.As(err, &fe):
		return problem.New(http.StatusBadRequest, "invalid-parameter", fe.Error()).WithField(fe.Path)
	case errors.As(err, &forbid):
		return problem.New(http.StatusForbidden, "forbidden", forbid.Error()).WithField("types")
	case errors.Is(err, ErrTooMany):
		p := problem.New(http.StatusTooManyRequests, "too-many-tails", err.Error())
		p.RetryAfter = 10 * time.Second
		return p
	case errors.Is(err, ErrClosed):
		p := problem.New(http.StatusServiceUnavailable, "bus-unavailable", "the node is stopping; retry in a moment")
		p.RetryAfter = time.Second
		return p
	}
	return nil
}

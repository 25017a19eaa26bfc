package problem

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
)

// Internal is the 500 answer of kind (internal, contract-error) for a fault
// of weir's own. The client gets a correlation id and no internal text; the
// cause is logged at error level under the same id, so that an operator can
// find it from what the client quotes.
func Internal(ctx context.Context, log *slog.Logger, kind string, err error) *Problem {
	id := correlationID()
	log.ErrorContext(ctx, "internal error", slog.String("correlation_id", id), slog.String("problem", kind), slog.Any("error", err))
	p := New(http.StatusInternalServerError, kind,
		"weir failed to answer this request; its log has the cause under correlation id "+id)
	p.CorrelationID = id
	return p
}

// correlationID is 16 random bytes in hex: unguessable, so that it tells a
// client nothing about other requests.
func correlationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return hex.EncodeToString(b[:])
}

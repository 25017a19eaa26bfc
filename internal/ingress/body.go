package ingress

import (
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/weir-dev/weir/internal/problem"
)

// ReadBody reads a request body of at most limit bytes within timeout. On
// failure it answers with the outcome label for metrics and the problem to send:
// 413 past the limit (limitName is the setting to name), 408 when the sender is
// too slow, 400 otherwise. A slow sender cannot hold a pending slot for longer
// than timeout.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64, limitName string, timeout time.Duration) ([]byte, string, *problem.Problem) {
	if timeout > 0 {
		// Not every ResponseWriter can (httptest's cannot); then the server's own
		// timeouts are all there is.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		return body, "", nil
	}
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge):
		return nil, "too_large", problem.New(http.StatusRequestEntityTooLarge, "body-too-large",
			"the body is larger than the limit of "+itoa(limit)+" bytes ("+limitName+")").WithField("body")
	case errors.As(err, &netErr) && netErr.Timeout():
		return nil, "body_timeout", problem.New(http.StatusRequestTimeout, "body-timeout",
			"the body did not arrive within "+timeout.String()+" (server.body_timeout)").WithField("body")
	default:
		return nil, "bad_request", problem.New(http.StatusBadRequest, "body-unreadable", "the body could not be read: "+err.Error()).WithField("body")
	}
}

package server

import (
	"io"
	"net/http"
	"time"
)

// bodyDeadline bounds how long the body of any request may take to arrive,
// on every route, to server.body_timeout. Without it a route that never reads
// its body (/healthz, or a 401 before the body is read) left the wait to
// net/http, which reads the rest of an unread body before it answers and has
// no deadline for that read: a client sending headers with a Content-Length
// and no body held its connection, and a max_connections slot, for ever.
//
// http.Server's ReadTimeout would bound it too, but it is a deadline on the
// whole request that also ends the context of long requests (the server-sent
// events stream, long-polls) when it passes. This deadline is lifted as soon
// as the body has been read to its end.
func bodyDeadline(timeout time.Duration, next http.Handler) http.Handler {
	if timeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(timeout)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline once the body is read to its end, so
// that a handler that runs longer than body_timeout afterwards keeps its
// connection (net/http watches it for the client going away).
type deadlineBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	lifted bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.lifted {
		b.lifted = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

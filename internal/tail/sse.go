package tail

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/weir-dev/weir/internal/field"
)

// The wire format of a tail, shared by GET /v1/events/stream and the portal's
// /ui/tail/stream so that one client reads both.

// Patterns reads the type patterns of a tail from the values of a types
// query parameter: each value may hold several, separated by commas; blanks
// are dropped. Check validates what it returns.
func Patterns(values []string) []string {
	var out []string
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// SSE writes a tail to an HTTP answer as server-sent events: each event has
// its stream sequence as id (what an EventSource sends back as Last-Event-ID
// when it reconnects), the name cloudevent, and its JSON as data; a quiet
// tail sends a comment. It is the send and heartbeat of Follow.Run.
type SSE struct {
	w http.ResponseWriter
	f http.Flusher
}

// StartSSE sends the headers of an event stream and a first comment naming
// the patterns, and flushes them, so that the client knows the tail is open.
// ok is false when the connection cannot stream.
func StartSSE(w http.ResponseWriter, patterns []string) (s *SSE, ok bool) {
	f, ok := w.(http.Flusher)
	if !ok {
		return nil, false
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, ": weir live tail of "+strings.Join(patterns, ",")+"\n\n")
	f.Flush()
	return &SSE{w: w, f: f}, true
}

// Send writes one event.
func (s *SSE) Send(seq uint64, data []byte) error {
	var b strings.Builder
	b.WriteString("id: " + strconv.FormatUint(seq, 10) + "\nevent: cloudevent\n")
	// Each line of the event is its own data: line, as SSE requires.
	for line := range strings.SplitSeq(string(data), "\n") {
		b.WriteString("data: " + strings.TrimSuffix(line, "\r") + "\n")
	}
	b.WriteString("\n")
	return s.write(b.String())
}

// Heartbeat writes a comment, which clients ignore and proxies see as traffic.
func (s *SSE) Heartbeat() error { return s.write(": heartbeat\n\n") }

func (s *SSE) write(text string) error {
	if _, err := io.WriteString(s.w, text); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

// ResumeAfter reads the stream sequence a tail resumes after: the
// Last-Event-ID header an EventSource sends when it reconnects, or the since
// query parameter; 0 when neither is given. A value that is not a whole
// number is a *field.Error naming the one that was sent.
func ResumeAfter(r *http.Request) (uint64, error) {
	name, v := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if v == "" {
		name, v = "since", r.URL.Query().Get("since")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		// Cut short, so that a stranger's input cannot blow up the answer.
		if len(v) > 80 {
			v = v[:80] + "..."
		}
		return 0, field.Errorf(name, "%s is not a stream sequence (a whole number from 0)", strconv.Quote(v))
	}
	return n, nil
}

// ErrNoStreaming means the connection cannot stream: the response writer
// does not flush.
var ErrNoStreaming = errors.New("streaming is not supported by this connection")

// Serve writes f's events to w as an event stream (StartSSE, then Run) until
// the client goes, the tail ends or the node stops; both the API's and the
// portal's tail call it. ErrNoStreaming comes before anything is written.
func Serve(w http.ResponseWriter, f *Follow, patterns []string) error {
	out, ok := StartSSE(w, patterns)
	if !ok {
		return ErrNoStreaming
	}
	return f.Run(out.Send, out.Heartbeat)
}

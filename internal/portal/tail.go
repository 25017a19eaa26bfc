package portal

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/weir-dev/weir/internal/problem"
	"github.com/weir-dev/weir/internal/tail"
)

// tailData is the live tail page's.
type tailData struct {
	// Types is the pattern box as typed.
	Types string
	// Error is why the patterns cannot be followed, shown next to the box.
	Error string
	// Stream is the URL static/tail.js follows; empty while there is nothing
	// to follow.
	Stream string
	// API is the same tail through the API, for readers without JavaScript.
	API string
	// Max is how many events the page keeps.
	Max int
}

// tailRows is how many events the page keeps (static/tail.js reads it from
// the list's data-max); older ones are removed as new ones arrive.
const tailRows = 200

func (p *Portal) registerTail(mux *http.ServeMux) {
	p.handle(mux, "GET /ui/tail", p.tailPage)
	// The stream answers a missing session with 401 instead of the sign-in
	// redirect: an EventSource cannot follow a person to a form.
	mux.Handle("GET /ui/tail/stream", p.secure(http.HandlerFunc(p.tailStream)))
}

// tailPage shows the pattern box and, when the patterns may be followed, the
// list static/tail.js fills. The patterns are checked here too, so that a
// refusal shows without JavaScript and with the status the stream would give.
func (p *Portal) tailPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := r.URL.Query()
	pats := tail.Patterns(q["types"])
	d := tailData{Types: strings.Join(pats, ", "), Max: tailRows}
	status := http.StatusOK
	if len(pats) > 0 {
		if err := p.deps.Tails.Check(tail.Request{Token: v.Token, Patterns: pats}); err != nil {
			status, d.Error = tailRefusal(err)
		} else {
			types := url.Values{"types": {strings.Join(pats, ",")}}.Encode()
			d.Stream, d.API = "/ui/tail/stream?"+types, "/v1/events/stream?"+types
		}
	}
	if d.API == "" {
		d.API = "/v1/events/stream?types=order.*"
	}
	p.render(w, r, status, "tail", page{Title: "Live tail", Nav: "tail", Viewer: v, Data: d, Scripts: []string{"tail.js"}})
}

// tailUnavailable is what the page says when the bus did not answer.
const tailUnavailable = "The live tail is not available just now (the node is stopping or the bus did not answer); retry in a moment."

// tailRefusal is the status and sentence of a tail that cannot open, the
// same as GET /v1/events/stream answers (tail.Refusal).
func tailRefusal(err error) (int, string) {
	if p := tail.Refusal(err); p != nil && p.Status != http.StatusServiceUnavailable {
		return p.Status, p.Detail
	}
	return http.StatusServiceUnavailable, tailUnavailable
}

// tailStream follows the event stream as server-sent events for the page,
// as the viewer's token, with the caps and refusals of GET /v1/events/stream
// (as problem+json, which static/tail.js reads when the EventSource fails).
func (p *Portal) tailStream(w http.ResponseWriter, r *http.Request) {
	t, _, err := p.sess.read(r)
	if err != nil {
		problem.New(http.StatusUnauthorized, "unauthorized", "sign in to the portal again: the session is missing or has ended").Write(w, r)
		return
	}
	p.deps.Tails.Handle(w, r, t, func(error) *problem.Problem {
		return problem.New(http.StatusServiceUnavailable, "bus-unavailable", tailUnavailable)
	}, p.log)
}

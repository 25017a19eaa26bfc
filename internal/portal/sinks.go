package portal

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/sink"
)

// registerSinks adds the sink pages: for admin tokens only, as /v1/sinks
// (a sink holds a store's credentials and reads every event of its types).
func (p *Portal) registerSinks(mux *http.ServeMux) {
	if p.deps.Sinks == nil {
		return
	}
	p.handle(mux, "GET /ui/sinks/{name}", p.sinkPage)
	p.handle(mux, "POST /ui/sinks/{name}/pause", p.setSinkState(sink.StateDisabled))
	p.handle(mux, "POST /ui/sinks/{name}/resume", p.setSinkState(sink.StateActive))
	p.handle(mux, "POST /ui/sinks/{name}/replay", p.replaySink)
}

// visibleSinks are the sinks the subscriptions page lists: every one for
// an admin, none for anyone else (who does not learn that sinks exist).
func (p *Portal) visibleSinks(r *http.Request, v *viewer) []*sink.View {
	if p.deps.Sinks == nil || !v.Token.IsAdmin() {
		return nil
	}
	return p.deps.Sinks.List(r.Context())
}

// visibleSink returns the sink of the path to an admin; anyone else, and an
// unknown name, get the same 404.
func (p *Portal) visibleSink(w http.ResponseWriter, r *http.Request, v *viewer) (*sink.View, bool) {
	name := r.PathValue("name")
	if v.Token.IsAdmin() {
		if s, err := p.deps.Sinks.Get(r.Context(), name); err == nil {
			return s, true
		}
		p.fail(w, r, v, http.StatusNotFound, "There is no sink named "+name+". The subscriptions page lists the sinks.")
		return nil, false
	}
	p.fail(w, r, v, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	return nil, false
}

// sinkData is a sink page's.
type sinkData struct {
	Sink *sink.View
	// SpecJSON is the definition as the API shows it (password masked).
	SpecJSON string
	// DeadLetters lists the sink's dead letters (its cause group).
	DeadLetters template.URL
	Replay      sinkReplayForm
	Flash       *flash
}

// sinkReplayForm is the "load again from" form: a time (datetime-local,
// read as UTC) or a stream sequence.
type sinkReplayForm struct {
	From, FromSeq string
	Errors        formErrors
}

// sinkDeadLetters is the list of the sink's dead letters: kind sink, the
// sink's cause key.
func sinkDeadLetters(name string) template.URL {
	return listURL(url.Values{"kind": {deadletter.KindSink}, "cause": {"sink:" + name}})
}

func (p *Portal) sinkPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	s, ok := p.visibleSink(w, r, v)
	if !ok {
		return
	}
	d := newSinkData(s)
	d.Flash = p.flash.take(v.Token.Name, r.URL.Query().Get("flash"))
	p.renderSink(w, r, v, http.StatusOK, d)
}

func newSinkData(s *sink.View) *sinkData {
	d := &sinkData{Sink: s, DeadLetters: sinkDeadLetters(s.Name), Replay: sinkReplayForm{Errors: formErrors{}}}
	var spec strings.Builder
	enc := json.NewEncoder(&spec)
	enc.SetEscapeHTML(false) // html/template escapes it, once
	enc.SetIndent("", "  ")
	if enc.Encode(s.Spec) == nil {
		d.SpecJSON = spec.String()
	}
	return d
}

func (p *Portal) renderSink(w http.ResponseWriter, r *http.Request, v *viewer, status int, d *sinkData) {
	p.render(w, r, status, "sinks_detail", page{Title: "Sink " + d.Sink.Name, Nav: "subscriptions", Viewer: v, Data: d})
}

// backToSink answers a successful POST: back to the sink's page, with a
// notice shown once.
func (p *Portal) backToSink(w http.ResponseWriter, r *http.Request, v *viewer, name string, f flash) {
	id := p.flash.put(v.Token.Name, f)
	http.Redirect(w, r, "/ui/sinks/"+url.PathEscape(name)+"?flash="+id, http.StatusSeeOther)
}

// setSinkState pauses or resumes a sink on every node, as POST
// /v1/sinks/{name}/pause and /resume.
func (p *Portal) setSinkState(state string) func(http.ResponseWriter, *http.Request, *viewer) {
	return func(w http.ResponseWriter, r *http.Request, v *viewer) {
		s, ok := p.visibleSink(w, r, v)
		if !ok {
			return
		}
		reason, notice := "", "Resumed: the sink loads again, starting with what waited on the bus."
		if state == sink.StateDisabled {
			reason = "paused in the portal by token " + v.Token.Name
			notice = "Paused: the batch in hand is written, then nothing more until you resume; events wait on the bus."
		}
		err := p.deps.Sinks.SetState(r.Context(), s.Name, state, reason)
		switch {
		case errors.Is(err, sink.ErrNotFound):
			p.fail(w, r, v, http.StatusNotFound, "The sink "+s.Name+" is gone.")
			return
		case err != nil:
			p.failErr(w, r, v, err)
			return
		}
		p.backToSink(w, r, v, s.Name, flash{Notice: notice})
	}
}

// replaySink re-positions the sink, as POST /v1/sinks/{name}/replay: it
// loads again everything of its types since a time or a sequence.
func (p *Portal) replaySink(w http.ResponseWriter, r *http.Request, v *viewer) {
	s, ok := p.visibleSink(w, r, v)
	if !ok {
		return
	}
	form := sinkReplayForm{From: strings.TrimSpace(r.PostForm.Get("from")), FromSeq: strings.TrimSpace(r.PostForm.Get("from_seq")), Errors: formErrors{}}
	refuse := func(id, msg string) {
		d := newSinkData(s)
		form.Errors[id] = msg
		d.Replay = form
		p.renderSink(w, r, v, http.StatusUnprocessableEntity, d)
	}
	var from sink.ReplayFrom
	switch {
	case form.From == "" && form.FromSeq == "":
		refuse("sink-from", "Give the time to load again from, or a stream sequence.")
		return
	case form.From != "" && form.FromSeq != "":
		refuse("sink-from-seq", "Give a time or a sequence, not both.")
		return
	case form.FromSeq != "":
		n, err := strconv.ParseUint(form.FromSeq, 10, 64)
		if err != nil || n == 0 {
			refuse("sink-from-seq", "A stream sequence is a whole number from 1.")
			return
		}
		from.Seq = n
	default:
		t, err := time.Parse(time.RFC3339, rfc3339Local(form.From))
		if err != nil {
			refuse("sink-from", "Give a time as 2026-11-30T09:00 (UTC) or 2026-11-30T09:00:00Z.")
			return
		}
		from.Time = t
	}
	out, err := p.deps.Sinks.Replay(r.Context(), s.Name, from)
	var fe *field.Error
	switch {
	case errors.As(err, &fe):
		id := "sink-from"
		if fe.Path == "from_seq" {
			id = "sink-from-seq"
		}
		refuse(id, capitalize(fe.Reason)+".")
		return
	case errors.Is(err, sink.ErrNotFound):
		p.fail(w, r, v, http.StatusNotFound, "The sink "+s.Name+" is gone.")
		return
	case err != nil:
		p.failErr(w, r, v, err)
		return
	}
	where := "sequence " + strconv.FormatUint(out.FromSeq, 10)
	if !out.From.IsZero() {
		where = out.From.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	p.backToSink(w, r, v, s.Name, flash{Notice: "Loading again from " + where + ": " +
		strconv.FormatUint(out.Pending, 10) + " events to load. " + capitalize(out.Note) + "."})
}

// capitalize upper-cases s's first letter (ASCII).
func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

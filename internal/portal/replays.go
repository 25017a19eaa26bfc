package portal

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/field"
)

// replayForm is the replay form of a subscription's page: a time range
// (datetime-local, read as UTC) or a range of stream sequences.
type replayForm struct {
	From, To, FromSeq, ToSeq string
	Errors                   formErrors
}

// replayField is one input of the replay form.
type replayField struct {
	ID, Name, Label, Type, Value, Error string
}

// Fields are the form's inputs, with what was typed and any error.
func (f replayForm) Fields() []replayField {
	return []replayField{
		{"replay-from", "from", "From (date and time in UTC)", "datetime-local", f.From, f.Errors["replay-from"]},
		{"replay-to", "to", "To (date and time in UTC)", "datetime-local", f.To, f.Errors["replay-to"]},
		{"replay-from-seq", "from_seq", "Or from stream sequence", "number", f.FromSeq, f.Errors["replay-from-seq"]},
		{"replay-to-seq", "to_seq", "Or to stream sequence", "number", f.ToSeq, f.Errors["replay-to-seq"]},
	}
}

// localLayouts are what browsers send for datetime-local, with and without seconds.
var localLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05"}

// rfc3339Local turns a datetime-local value, read as UTC, into RFC 3339 for
// delivery.ParseReplayRequest; a value it cannot read passes as it is, to be
// refused there with the rule the API applies.
func rfc3339Local(s string) string {
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t.Format(time.RFC3339)
		}
	}
	return s
}

// bound is one end of the range: the time or the sequence, and the field the
// value came from (for its error).
func bound(at, seq, atID, seqID string) (string, string, string) {
	at, seq = strings.TrimSpace(at), strings.TrimSpace(seq)
	switch {
	case at != "" && seq != "":
		return "", seqID, "Give a time or a sequence, not both."
	case seq != "":
		return seq, seqID, ""
	}
	return rfc3339Local(at), atID, ""
}

// startReplay starts a replay with the rules of POST
// /v1/subscriptions/{name}/replay (delivery.ParseReplayRequest and the
// manager's caps), then shows the job's page.
func (p *Portal) startReplay(w http.ResponseWriter, r *http.Request, v *viewer) {
	s, ok := p.visibleSub(w, r, v)
	if !ok {
		return
	}
	f := r.PostForm
	form := replayForm{From: f.Get("from"), To: f.Get("to"), FromSeq: f.Get("from_seq"), ToSeq: f.Get("to_seq"), Errors: formErrors{}}
	refuse := func(status int, id, msg string) {
		d := p.subPage(r, v, s)
		form.Errors[id] = msg
		d.Replay = form
		p.renderSub(w, r, v, status, d)
	}
	from, fromID, msg := bound(form.From, form.FromSeq, "replay-from", "replay-from-seq")
	if msg != "" {
		refuse(http.StatusUnprocessableEntity, fromID, msg)
		return
	}
	to, toID, msg := bound(form.To, form.ToSeq, "replay-to", "replay-to-seq")
	if msg != "" {
		refuse(http.StatusUnprocessableEntity, toID, msg)
		return
	}
	ids := map[string]string{"from": fromID, "to": toID}
	req, err := delivery.ParseReplayRequest(from, to, 0, false)
	if err == nil {
		var rp *delivery.Replay
		if rp, err = p.deps.Delivery.StartReplay(s.Name, req); err == nil {
			http.Redirect(w, r, "/ui/replays/"+rp.ID, http.StatusSeeOther)
			return
		}
	}
	var fe *field.Error
	switch {
	case errors.As(err, &fe):
		id := ids[fe.Path]
		if fe.Path == "from" && from == "" {
			fe.Reason = "Give where the replay starts: a time or a stream sequence."
		}
		refuse(http.StatusUnprocessableEntity, id, fe.Reason)
	case errors.Is(err, delivery.ErrTooManyReplays):
		refuse(http.StatusTooManyRequests, "", "Too many replays are running ("+err.Error()+"); start this one when one of them has ended.")
	case errors.Is(err, delivery.ErrNotFound):
		p.fail(w, r, v, http.StatusNotFound, "The subscription "+s.Name+" is gone.")
	default:
		p.failErr(w, r, v, err)
	}
}

// replayData is a replay's page.
type replayData struct {
	Replay  *delivery.Replay
	Running bool
	// Span is how many stream positions a sequence range covers, when both
	// ends are sequences: the most events the replay can deliver (0 unknown).
	Span uint64
}

// visibleReplay returns the replay of the path if the viewer may see it
// (delivery.Manager.MayReplay, the API's rule); otherwise 404, the same as
// for an unknown id.
func (p *Portal) visibleReplay(w http.ResponseWriter, r *http.Request, v *viewer) (*delivery.Replay, bool) {
	rp, err := p.deps.Delivery.Replay(r.PathValue("id"))
	if err != nil || !p.deps.Delivery.MayReplay(r.Context(), v.Token, rp) {
		p.fail(w, r, v, http.StatusNotFound, "There is no replay with that id that you may see on this node. Replays are kept for a day after they end.")
		return nil, false
	}
	return rp, true
}

// replay shows a replay's state and progress; while it runs the page reloads
// itself every 2 seconds.
func (p *Portal) replay(w http.ResponseWriter, r *http.Request, v *viewer) {
	rp, ok := p.visibleReplay(w, r, v)
	if !ok {
		return
	}
	d := replayData{Replay: rp, Running: rp.State == delivery.ReplayRunning}
	if q := rp.Request; q.FromSeq > 0 && q.ToSeq > q.FromSeq {
		d.Span = q.ToSeq - q.FromSeq
	}
	p.render(w, r, http.StatusOK, "replays", page{Title: "Replay " + rp.ID, Nav: "subscriptions", Viewer: v, Data: d, Refresh: d.Running})
}

// cancelReplay stops a running replay (DELETE /v1/replays/{id}).
func (p *Portal) cancelReplay(w http.ResponseWriter, r *http.Request, v *viewer) {
	rp, ok := p.visibleReplay(w, r, v)
	if !ok {
		return
	}
	if _, err := p.deps.Delivery.CancelReplay(rp.ID); err != nil {
		p.fail(w, r, v, http.StatusNotFound, "The replay is gone from this node.")
		return
	}
	http.Redirect(w, r, "/ui/replays/"+rp.ID, http.StatusSeeOther)
}

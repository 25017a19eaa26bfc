package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/ingress"
	"github.com/weir-dev/weir/internal/problem"
)

// maxValueShown bounds the value shown next to each violation.
const maxValueShown = 200

// dlViolation is one violation with the value it is about.
type dlViolation struct {
	deadletter.Violation
	// Value is the JSON at the pointer; Missing says there is none.
	Value   string
	Missing bool
}

// dlData is a dead letter's page.
type dlData struct {
	D     *deadletter.DeadLetter
	Cause deadletter.Cause
	Open  bool
	// Lines are the payload, line by line; Raw is it as one block when it
	// cannot be shown so (not JSON, binary, too long).
	Lines []payloadLine
	Raw   string
	// Binary says the event carries opaque bytes (data_base64).
	Binary     bool
	Violations []dlViolation
	// Attempts are the delivery attempts of an undeliverable event.
	Attempts []attemptRow
	// Data is the correction box's text, DataErrors why weir refused it.
	Data       string
	DataErrors []string
	// Reason is the resolve box's text, ReasonError why it was refused.
	Reason, ReasonError string
	// RedriveError says why a plain redrive was refused.
	RedriveError string
	Flash        *flash
}

// visibleDL returns the dead letter of the path if the viewer may handle
// it (the API's MayHandle); otherwise 404, the same as for one that does
// not exist, so that ids beyond the viewer's roles are not confirmed.
func (p *Portal) visibleDL(w http.ResponseWriter, r *http.Request, v *viewer) (*deadletter.DeadLetter, bool) {
	id := r.PathValue("id")
	d, err := p.deps.Delivery.DeadLetters().Get(r.Context(), id)
	if err != nil && !errors.Is(err, deadletter.ErrNotFound) {
		p.failErr(w, r, v, err)
		return nil, false
	}
	if err != nil || !p.deps.Delivery.MayHandle(v.Token, d) {
		p.fail(w, r, v, http.StatusNotFound, "There is no dead letter "+id+" that you may see. The list of dead letters shows those you may.")
		return nil, false
	}
	return d, true
}

// dlPage gathers a dead letter's page; the correction box starts with the
// event's data.
func dlPage(d *deadletter.DeadLetter) *dlData {
	out := &dlData{D: d, Cause: deadletter.CauseOf(d), Open: d.Status == "" || d.Status == deadletter.StatusOpen}
	ev, err := event.Decode(d.Event)
	var data []byte
	switch {
	case err != nil:
		out.Raw = string(d.Event)
	case ev.DataBase64 != nil:
		out.Binary = true
	default:
		data = ev.Data
	}
	notes := map[string][]string{}
	for _, vi := range d.Violations {
		val, ok := valueAt(data, vi.Pointer, maxValueShown)
		out.Violations = append(out.Violations, dlViolation{Violation: vi, Value: val, Missing: !ok})
		notes[vi.Pointer] = append(notes[vi.Pointer], vi.Rule+": "+vi.Message)
	}
	if len(data) > 0 {
		out.Data = indentJSON(data)
		if lines, err := payloadLines(data, notes); err == nil {
			// The box gets the same text as the view: \u003c and the like,
			// as the stored event has them, would only puzzle the editor.
			text := make([]string, len(lines))
			for i, l := range lines {
				text[i] = l.Text
			}
			out.Lines, out.Data = lines, strings.Join(text, "\n")
		} else {
			out.Raw = string(data)
		}
	}
	for _, a := range d.Attempts {
		out.Attempts = append(out.Attempts, attemptRow{Attempt: a, Fields: attemptFields(a)})
	}
	return out
}

// indentJSON is raw indented, member order and HTML characters kept.
func indentJSON(raw []byte) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

func (p *Portal) renderDL(w http.ResponseWriter, r *http.Request, v *viewer, status int, d *dlData) {
	p.render(w, r, status, "deadletters_detail", page{Title: "Dead letter " + d.D.ID, Nav: "deadletters", Viewer: v, Data: d})
}

// deadLetter shows one dead letter.
func (p *Portal) deadLetter(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, ok := p.visibleDL(w, r, v)
	if !ok {
		return
	}
	pg := dlPage(d)
	pg.Flash = p.flash.take(v.Token.Name, r.URL.Query().Get("flash"))
	p.renderDL(w, r, v, http.StatusOK, pg)
}

// backToDL answers a successful POST: back to the dead letter's page.
func (p *Portal) backToDL(w http.ResponseWriter, r *http.Request, v *viewer, id string, f flash) {
	http.Redirect(w, r, "/ui/deadletters/"+id+"?flash="+p.flash.put(v.Token.Name, f), http.StatusSeeOther)
}

// redriveOne sends the dead letter on, as POST
// /v1/deadletters/{id}/redrive does: with the corrected data when the form
// has action=correct, else as it was. A refusal re-renders the page with
// the reasons; the dead letter stays open.
func (p *Portal) redriveOne(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, ok := p.visibleDL(w, r, v)
	if !ok {
		return
	}
	var data json.RawMessage
	text := r.PostForm.Get("data")
	correct := r.PostForm.Get("action") == "correct"
	refuse := func(status int, reasons ...string) {
		pg := dlPage(d)
		if correct {
			pg.Data, pg.DataErrors = text, reasons
		} else {
			pg.RedriveError = strings.Join(reasons, " ")
		}
		p.renderDL(w, r, v, status, pg)
	}
	if correct {
		if strings.TrimSpace(text) == "" {
			refuse(http.StatusUnprocessableEntity, "Give the corrected data, as JSON.")
			return
		}
		// Sent compact when it is JSON; when not, as typed, so that the
		// redrive's own check names the fault.
		var b bytes.Buffer
		if json.Compact(&b, []byte(text)) == nil {
			data = b.Bytes()
		} else {
			data = json.RawMessage(text)
		}
	}
	err := p.deps.Delivery.Redrive(r.Context(), p.readmitter(), v.Token, d, data)
	if err != nil {
		// The page shows the dead letter as stored, not as the failed
		// redrive may have left it in memory.
		if fresh, gerr := p.deps.Delivery.DeadLetters().Get(r.Context(), d.ID); gerr == nil {
			d = fresh
		}
		status, reasons := redriveRefusal(err)
		refuse(status, reasons...)
		return
	}
	notice := "Redriven: the event is on its way again."
	if correct {
		notice = "Redriven with the corrected data: the event was checked against its contract and published."
	}
	p.backToDL(w, r, v, d.ID, flash{Notice: notice})
}

// redriveRefusal is the status and reasons of a refused redrive: every
// contract violation of a refused correction, one by one.
func redriveRefusal(err error) (int, []string) {
	var (
		refused *ingress.RefusedError
		closed  *delivery.ClosedError
	)
	switch {
	case errors.As(err, &refused):
		pr := refused.Problem
		if len(pr.Errors) == 0 {
			return pr.Status, []string{sentence(pr.Detail)}
		}
		return pr.Status, violationReasons(pr)
	case errors.As(err, &closed):
		return http.StatusConflict, []string{redriveMessage(err)}
	case errors.Is(err, delivery.ErrNotCorrectable):
		return http.StatusBadRequest, []string{redriveMessage(err)}
	case errors.Is(err, delivery.ErrOtherIncarnation), errors.Is(err, delivery.ErrNotFound):
		return http.StatusConflict, []string{redriveMessage(err)}
	}
	return http.StatusServiceUnavailable, []string{redriveMessage(err)}
}

// violationReasons lists a contract refusal's violations as sentences.
func violationReasons(pr *problem.Problem) []string {
	out := []string{"The corrected data still breaks the contract, so nothing was sent:"}
	for _, fe := range pr.Errors {
		out = append(out, strings.TrimPrefix(fe.Field, "data")+" ("+fe.Rule+"): "+fe.Detail)
	}
	return out
}

// resolve closes the dead letter without sending it on, with a reason,
// as POST /v1/deadletters/{id}/resolve does.
func (p *Portal) resolve(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, ok := p.visibleDL(w, r, v)
	if !ok {
		return
	}
	reason := r.PostForm.Get("reason")
	var closed *delivery.ClosedError
	err := p.deps.Delivery.Resolve(r.Context(), v.Token, d, reason)
	switch {
	case errors.Is(err, delivery.ErrNoReason):
		pg := dlPage(d)
		pg.ReasonError = "Say why this event is closed without being sent on."
		p.renderDL(w, r, v, http.StatusUnprocessableEntity, pg)
		return
	case errors.As(err, &closed):
		pg := dlPage(d)
		pg.RedriveError = redriveMessage(err)
		p.renderDL(w, r, v, http.StatusConflict, pg)
		return
	case err != nil:
		p.failErr(w, r, v, err)
		return
	}
	p.backToDL(w, r, v, d.ID, flash{Notice: "Resolved: the event is closed without being sent on."})
}

package portal

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/ingress"
	"github.com/weir-dev/weir/internal/token"
)

// Bounds of the list page: a page of dead letters, and how many the cause
// groups read, newest first, so that the page costs the same with a
// thousand dead letters as with a million.
const (
	deadLettersPerPage = 50
	groupScan          = 2000
)

// registerDeadLetters adds the dead letter pages.
func (p *Portal) registerDeadLetters(mux *http.ServeMux) {
	p.handle(mux, "GET /ui/deadletters", p.deadLetters)
	p.handle(mux, "POST /ui/deadletters/redrive", p.bulkRedrive)
	p.handle(mux, "GET /ui/deadletters/{id}", p.deadLetter)
	p.handle(mux, "POST /ui/deadletters/{id}/redrive", p.redriveOne)
	p.handle(mux, "POST /ui/deadletters/{id}/resolve", p.resolve)
}

// dlFilter is the list's filter as the form sends it (GET query, or the
// bulk redrive's hidden fields), with the names of GET /v1/deadletters.
type dlFilter struct {
	Subscription, Type, Kind, Status, Cause, From, To string
}

// readFilter reads the filter from the query or the posted form.
func readFilter(v url.Values) dlFilter {
	return dlFilter{Subscription: v.Get("subscription"), Type: v.Get("type"), Kind: v.Get("kind"),
		Status: v.Get("status"), Cause: v.Get("cause"), From: v.Get("from"), To: v.Get("to")}
}

// values is the filter as query parameters, empty ones left out.
func (f dlFilter) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"subscription": f.Subscription, "type": f.Type, "kind": f.Kind,
		"status": f.Status, "cause": f.Cause, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// listURL is the list's address with query q. It is a template.URL
// because html/template would escape the query's own = and & again; it is
// safe: a fixed path, and every value percent-encoded by url.Values.
func listURL(q url.Values) template.URL {
	if len(q) == 0 {
		return "/ui/deadletters"
	}
	return template.URL("/ui/deadletters?" + q.Encode())
}

// URL is the list's address with this filter.
func (f dlFilter) URL() template.URL { return listURL(f.values()) }

// Empty says the filter selects everything (open ones).
func (f dlFilter) Empty() bool { return len(f.values()) == 0 }

// WithCause is the list's address with the filter narrowed to one cause.
func (f dlFilter) WithCause(key string) template.URL {
	f.Cause = key
	return f.URL()
}

// hiddenField is one field of the filter carried by a form.
type hiddenField struct{ Name, Value string }

// Hidden is the filter as hidden form fields, in a fixed order.
func (f dlFilter) Hidden() []hiddenField {
	var out []hiddenField
	for _, h := range []hiddenField{{"subscription", f.Subscription}, {"type", f.Type}, {"kind", f.Kind},
		{"cause", f.Cause}, {"from", f.From}, {"to", f.To}} {
		if h.Value != "" {
			out = append(out, h)
		}
	}
	return out
}

// textField is a text box of the filter form.
type textField struct{ ID, Label, Hint, Value, Error string }

// Text is the filter's text box id, with its value and error.
func (d *dlListData) Text(id, label, hint string) textField {
	val := map[string]string{"subscription": d.Filter.Subscription, "type": d.Filter.Type,
		"cause": d.Filter.Cause, "from": d.Filter.From, "to": d.Filter.To}[id]
	return textField{ID: id, Label: label, Hint: hint, Value: val, Error: d.Errors[id]}
}

// timeLayouts are what from/to take: RFC 3339 as the API does, and the
// browser's datetime-local value, read as UTC.
var timeLayouts = []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05"}

// compile checks the filter with the API's rules and returns the errors by
// field.
func (f dlFilter) compile() (deadletter.Filter, formErrors) {
	out := deadletter.Filter{Subscription: f.Subscription, Type: f.Type, Kind: f.Kind, Status: f.Status, Cause: f.Cause}
	errs := formErrors{}
	if out.Status == "" {
		out.Status = deadletter.StatusOpen
	}
	switch out.Status {
	case deadletter.StatusOpen, deadletter.StatusRedriven, deadletter.StatusResolved, "all":
	default:
		errs["status"] = "Choose open, redriven, resolved or all."
	}
	if f.Kind != "" && f.Kind != deadletter.KindUndeliverable && f.Kind != deadletter.KindQuarantined && f.Kind != deadletter.KindSink {
		errs["kind"] = "Choose undeliverable, quarantined or sink, or any."
	}
	for _, t := range []struct {
		name, in string
		out      *time.Time
	}{{"from", f.From, &out.From}, {"to", f.To, &out.To}} {
		if t.in == "" {
			continue
		}
		ok := false
		for _, l := range timeLayouts {
			if v, err := time.Parse(l, t.in); err == nil {
				*t.out, ok = v.UTC(), true
				break
			}
		}
		if !ok {
			errs[t.name] = "Give a time as 2026-11-30T09:00 (UTC) or 2026-11-30T09:00:00Z."
		}
	}
	return out, errs
}

// dlRow is one dead letter of the list.
type dlRow struct {
	*deadletter.DeadLetter
	Cause deadletter.Cause
}

// dlListData is the list page's.
type dlListData struct {
	Filter dlFilter
	Errors formErrors
	Rows   []dlRow
	// Next is the next page's address, "" on the last.
	Next template.URL
	// Paged is set past the first page.
	Paged    bool
	Grouping *deadletter.Grouping
	// GroupScan is how many dead letters the groups read at most.
	GroupScan int
	Flash     *flash
}

// deadLetters lists the dead letters the viewer may handle, by the rules
// of GET /v1/deadletters and /v1/deadletters/groups.
func (p *Portal) deadLetters(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := r.URL.Query()
	d := &dlListData{Filter: readFilter(q), GroupScan: groupScan, Flash: p.flash.take(v.Token.Name, q.Get("flash"))}
	f, errs, status := p.dlFilter(v, d.Filter)
	d.Errors = errs
	if len(errs) > 0 {
		p.render(w, r, status, "deadletters", page{Title: "Dead letters", Nav: "deadletters", Viewer: v, Data: d})
		return
	}
	g, err := p.deps.Delivery.DeadLetters().Groups(r.Context(), f, groupScan)
	if err != nil {
		p.failErr(w, r, v, err)
		return
	}
	d.Grouping = g
	f.Before, f.Limit = q.Get("cursor"), deadLettersPerPage
	d.Paged = f.Before != ""
	list, next, err := p.deps.Delivery.DeadLetters().List(r.Context(), f)
	if err != nil {
		p.failErr(w, r, v, err)
		return
	}
	for _, dl := range list {
		d.Rows = append(d.Rows, dlRow{DeadLetter: dl, Cause: deadletter.CauseOf(dl)})
	}
	if next != "" {
		nq := d.Filter.values()
		nq.Set("cursor", next)
		d.Next = listURL(nq)
	}
	p.render(w, r, http.StatusOK, "deadletters", page{Title: "Dead letters", Nav: "deadletters", Viewer: v, Data: d})
}

// dlFilter compiles the filter and applies the viewer's scope: a
// subscription= filter by the API's rule (MayFilterBy), and only the dead
// letters the viewer may handle. Refusals come back by field, with the
// status to answer.
func (p *Portal) dlFilter(v *viewer, in dlFilter) (deadletter.Filter, formErrors, int) {
	f, errs := in.compile()
	if len(errs) > 0 {
		return f, errs, http.StatusBadRequest
	}
	if err := p.deps.Delivery.MayFilterBy(v.Token, f.Subscription); err != nil {
		// One answer for unknown and not covered, so that the page does
		// not tell which names exist beyond the viewer's roles.
		return f, formErrors{"subscription": "There is no subscription named " + f.Subscription + " whose dead letters you may see."}, http.StatusNotFound
	}
	f.Visible = p.deps.Delivery.VisibleTo(v.Token)
	return f, nil, http.StatusOK
}

// dlConfirmData is the bulk redrive's confirmation page.
type dlConfirmData struct {
	Filter dlFilter
	// Count is how many open dead letters the filter selects now, and Max
	// the most one run takes.
	Count, Max int
}

// bulkRedrive redrives the open dead letters the posted filter selects,
// as POST /v1/deadletters/redrive does: the first POST is a dry run that
// says how many, the second (confirm=yes) does it.
func (p *Portal) bulkRedrive(w http.ResponseWriter, r *http.Request, v *viewer) {
	in := readFilter(r.PostForm)
	in.Status = deadletter.StatusOpen
	f, errs, status := p.dlFilter(v, in)
	if len(errs) > 0 {
		d := &dlListData{Filter: in, Errors: errs, GroupScan: groupScan}
		p.render(w, r, status, "deadletters", page{Title: "Dead letters", Nav: "deadletters", Viewer: v, Data: d})
		return
	}
	f.Limit = delivery.MaxBulkRedrive
	list, _, err := p.deps.Delivery.DeadLetters().List(r.Context(), f)
	if err != nil {
		p.failErr(w, r, v, err)
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		p.render(w, r, http.StatusOK, "deadletters_confirm", page{Title: "Redrive dead letters", Nav: "deadletters", Viewer: v,
			Data: dlConfirmData{Filter: in, Count: len(list), Max: delivery.MaxBulkRedrive}})
		return
	}
	res := p.deps.Delivery.BulkRedrive(r.Context(), p.readmitter(), v.Token, list)
	fl := flash{Notice: strconv.Itoa(len(res.Redriven)) + " redriven, " + strconv.Itoa(len(res.Failed)) + " refused."}
	if len(res.Failed) > 0 {
		fl.Warn = true
		fl.Notice += " The first refusal: " + redriveMessage(res.Failed[0].Err) + " The refused ones stay open in the list."
	}
	id := p.flash.put(v.Token.Name, fl)
	q := in.values()
	q.Set("flash", id)
	http.Redirect(w, r, "/ui/deadletters?"+q.Encode(), http.StatusSeeOther)
}

// readmitter publishes quarantined events again; without a publisher (a
// weir built without one) it refuses.
func (p *Portal) readmitter() delivery.Readmitter {
	if p.deps.Readmitter == nil {
		return noReadmitter{}
	}
	return p.deps.Readmitter
}

// redriveMessage says why a redrive was refused, in the words of the
// API's answer where there is one.
func redriveMessage(err error) string {
	var (
		closed   *delivery.ClosedError
		refused  *ingress.RefusedError
		unmarked *delivery.UnmarkedError
	)
	switch {
	case errors.As(err, &closed):
		return "This dead letter was already " + closed.Status + "."
	case errors.Is(err, delivery.ErrNotCorrectable):
		return "Only quarantined events can be corrected; an undeliverable event is sent again as it was."
	case errors.Is(err, delivery.ErrOtherIncarnation), errors.Is(err, delivery.ErrNotFound):
		return "The subscription that gave up on this event no longer exists; resolve this dead letter instead."
	case errors.As(err, &unmarked):
		return "The event was sent on, but the dead letter could not be marked redriven: the event bus is unavailable. Try again in a moment."
	case errors.As(err, &refused):
		return sentence(refused.Problem.Detail)
	}
	return "The event bus did not take the event; nothing was sent. Try again in a moment."
}

// sentence is s with a capital first letter and a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// noReadmitter stands in when the portal has no publisher.
type noReadmitter struct{}

func (noReadmitter) Readmit(context.Context, *token.Token, *deadletter.DeadLetter, json.RawMessage) error {
	return errors.New("this weir publishes no events from the portal")
}

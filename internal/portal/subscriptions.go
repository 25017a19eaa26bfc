package portal

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/sink"
)

// recentAttempts is how many attempts a subscription's page lists.
const recentAttempts = 20

// registerSubscriptions adds the subscription and replay pages.
func (p *Portal) registerSubscriptions(mux *http.ServeMux) {
	p.handle(mux, "GET /ui/subscriptions", p.subscriptions)
	p.handle(mux, "GET /ui/subscriptions/new", p.newSubscription)
	p.handle(mux, "POST /ui/subscriptions/new", p.createSubscription)
	p.handle(mux, "GET /ui/subscriptions/{name}", p.subscription)
	p.handle(mux, "POST /ui/subscriptions/{name}/pause", p.setState(delivery.StateDisabled))
	p.handle(mux, "POST /ui/subscriptions/{name}/resume", p.setState(delivery.StateActive))
	p.handle(mux, "POST /ui/subscriptions/{name}/test", p.sendTest)
	p.handle(mux, "POST /ui/subscriptions/{name}/delete", p.deleteSubscription)
	p.handle(mux, "POST /ui/subscriptions/{name}/replay", p.startReplay)
	p.handle(mux, "GET /ui/replays/{id}", p.replay)
	p.handle(mux, "POST /ui/replays/{id}/cancel", p.cancelReplay)
}

// subscriptionsData is the list page's.
type subscriptionsData struct {
	Subscriptions []*delivery.View
	Flash         *flash
	// ShowSinks is set for admins of a weir that runs sinks; Sinks are
	// theirs, listed beside the subscriptions.
	ShowSinks bool
	Sinks     []*sink.View
}

// subscriptions lists what the viewer may see: the rule of GET /v1/subscriptions.
func (p *Portal) subscriptions(w http.ResponseWriter, r *http.Request, v *viewer) {
	d := subscriptionsData{
		Subscriptions: p.deps.Delivery.Visible(r.Context(), v.Token),
		Flash:         p.flash.take(v.Token.Name, r.URL.Query().Get("flash")),
		ShowSinks:     p.deps.Sinks != nil && v.Token.IsAdmin(),
		Sinks:         p.visibleSinks(r, v),
	}
	p.render(w, r, http.StatusOK, "subscriptions", page{Title: "Subscriptions", Nav: "subscriptions", Viewer: v, Data: d})
}

// visibleSub returns the subscription of the path if the viewer may see it;
// otherwise it answers 404, the same for one that does not exist, so that
// the page does not tell which names exist beyond the viewer's roles.
func (p *Portal) visibleSub(w http.ResponseWriter, r *http.Request, v *viewer) (*delivery.View, bool) {
	name := r.PathValue("name")
	s, err := p.deps.Delivery.Get(r.Context(), name)
	if err != nil || !delivery.MayRead(v.Token, s) {
		p.fail(w, r, v, http.StatusNotFound, "There is no subscription named "+name+" that you may see. The list of subscriptions shows those you may.")
		return nil, false
	}
	return s, true
}

// subData is a subscription page's.
type subData struct {
	Sub *delivery.View
	// SpecJSON is the definition as the API shows it (secret masked).
	SpecJSON string
	Attempts []attemptRow
	// AttemptsError says why the attempts could not be read, if so.
	AttemptsError string
	Flash         *flash
	// CanDelete: only subscriptions created through the API or the portal
	// can be deleted; those of weir.yaml are changed there.
	CanDelete bool
	Test      testForm
	Replay    replayForm
	Delete    formErrors
}

// attemptRow is one delivery attempt: its summary, and every field the
// record has (whatever fields deadletter.Attempt carries) for the details.
type attemptRow struct {
	deadletter.Attempt
	Fields []attemptField
}

// attemptField is one field of an attempt's record.
type attemptField struct {
	Name  string
	Value string
	// Block shows the value preformatted (a body, headers).
	Block bool
}

// summarized are the fields the summary line of an attempt already shows.
var summarized = []string{"subscription", "subscription_uid", "event_id", "attempt", "at", "outcome", "status", "latency_ms"}

// attemptFields lists an attempt's fields from its JSON form, so that fields
// added to deadletter.Attempt later appear without a change here.
func attemptFields(at deadletter.Attempt) []attemptField {
	raw, err := json.Marshal(at)
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	var out []attemptField
	for k, val := range m {
		if slices.Contains(summarized, k) {
			continue
		}
		f := attemptField{Name: strings.ReplaceAll(k, "_", " ")}
		var s string
		if json.Unmarshal(val, &s) == nil {
			f.Value, f.Block = s, k == "response" || strings.Contains(s, "\n")
		} else {
			f.Value, f.Block = prettyJSON(val), true
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b attemptField) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func prettyJSON(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return string(out)
}

// subscription shows one subscription.
func (p *Portal) subscription(w http.ResponseWriter, r *http.Request, v *viewer) {
	s, ok := p.visibleSub(w, r, v)
	if !ok {
		return
	}
	d := p.subPage(r, v, s)
	d.Flash = p.flash.take(v.Token.Name, r.URL.Query().Get("flash"))
	p.renderSub(w, r, v, http.StatusOK, d)
}

// subPage gathers a subscription page's data; forms start empty.
func (p *Portal) subPage(r *http.Request, v *viewer, s *delivery.View) *subData {
	d := &subData{Sub: s, CanDelete: s.Origin == delivery.OriginAPI}
	// Unescaped here: html/template escapes it for the page, once.
	var spec strings.Builder
	enc := json.NewEncoder(&spec)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if enc.Encode(s.Spec) == nil {
		d.SpecJSON = spec.String()
	}
	at, err := p.deps.Delivery.Attempts(r.Context(), delivery.Query{Subscription: s.Name, Limit: recentAttempts})
	if err != nil {
		d.AttemptsError = "The attempts could not be read just now (" + err.Error() + "); reload in a moment."
	}
	for _, a := range at {
		d.Attempts = append(d.Attempts, attemptRow{Attempt: a, Fields: attemptFields(a)})
	}
	d.Test = p.testChoices(v, s)
	return d
}

func (p *Portal) renderSub(w http.ResponseWriter, r *http.Request, v *viewer, status int, d *subData) {
	p.render(w, r, status, "subscriptions_detail", page{Title: "Subscription " + d.Sub.Name, Nav: "subscriptions", Viewer: v, Data: d})
}

// backToSub answers a successful POST on a subscription: back to its page,
// with a notice shown once.
func (p *Portal) backToSub(w http.ResponseWriter, r *http.Request, v *viewer, name string, f flash) {
	id := p.flash.put(v.Token.Name, f)
	http.Redirect(w, r, fmt.Sprintf("/ui/subscriptions/%s?flash=%s", name, id), http.StatusSeeOther)
}

// formErrors are a refused form's errors by field id; "" is the form's own.
type formErrors map[string]string

// setState pauses or resumes a subscription: the rule of POST
// /v1/subscriptions/{name}/pause and /resume (the viewer may see it).
func (p *Portal) setState(state string) func(http.ResponseWriter, *http.Request, *viewer) {
	return func(w http.ResponseWriter, r *http.Request, v *viewer) {
		s, ok := p.visibleSub(w, r, v)
		if !ok {
			return
		}
		reason, notice := "", "Resumed: deliveries go on."
		if state == delivery.StateDisabled {
			reason = "paused in the portal by token " + v.Token.Name
			notice = "Paused: nothing is delivered until you resume; events wait on the bus."
		}
		if err := p.deps.Delivery.SetState(r.Context(), s.Name, state, reason); err != nil {
			p.failErr(w, r, v, err)
			return
		}
		p.backToSub(w, r, v, s.Name, flash{Notice: notice})
	}
}

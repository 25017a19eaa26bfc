package portal

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/ingress"
)

// testSource is the source of the test events the portal sends.
const testSource = "/weir/portal"

// testData is every test event's data.
var testData = json.RawMessage(`{"test": true}`)

// testForm is the "send a test event" form: the concrete types the viewer
// may send, or none, and then a box to type one.
type testForm struct {
	Types []string
	// Value is what was typed, and Error why it was refused.
	Value, Error string
}

// testChoices lists the concrete event types the subscription matches and
// the viewer may publish: its own patterns without wildcards, and the types
// of the contracts and sources weir knows.
func (p *Portal) testChoices(v *viewer, s *delivery.View) testForm {
	candidates := slices.Clone(s.Spec.Types)
	if p.deps.Catalog != nil {
		c := p.deps.Catalog()
		for _, k := range c.Contracts {
			candidates = append(candidates, k.Type)
		}
		for _, src := range c.Sources {
			candidates = append(candidates, src.Types...)
		}
	}
	var f testForm
	for _, t := range candidates {
		if config.ValidType(t) == nil && event.MatchAnyType(s.Spec.Types, t) && v.Token.Can("publish", t) && !slices.Contains(f.Types, t) {
			f.Types = append(f.Types, t)
		}
	}
	slices.Sort(f.Types)
	return f
}

// sendTest publishes a test event of a type the subscription matches, by the
// rules of POST /v1/events: the viewer may publish the type and the source,
// and the event is held to its contract (a test that breaks it is refused,
// never quarantined).
func (p *Portal) sendTest(w http.ResponseWriter, r *http.Request, v *viewer) {
	s, ok := p.visibleSub(w, r, v)
	if !ok {
		return
	}
	typ := strings.TrimSpace(r.PostForm.Get("type"))
	refuse := func(status int, msg string) {
		d := p.subPage(r, v, s)
		d.Test.Value, d.Test.Error = typ, msg
		p.renderSub(w, r, v, status, d)
	}
	switch {
	case typ == "":
		refuse(http.StatusUnprocessableEntity, "Give the event type to send, e.g. order.created.")
		return
	case config.ValidType(typ) != nil:
		refuse(http.StatusUnprocessableEntity, "The event type "+config.ValidType(typ).Error()+".")
		return
	case !event.MatchAnyType(s.Spec.Types, typ):
		refuse(http.StatusUnprocessableEntity, typ+" does not match this subscription's types ("+strings.Join(s.Spec.Types, ", ")+"), so it would not be delivered here.")
		return
	case !v.Token.Can("publish", typ):
		refuse(http.StatusForbidden, "Your token ("+v.Token.Name+") may not publish "+typ+": it needs a role publish:<pattern> that matches it.")
		return
	case !v.Token.CanSource(testSource):
		refuse(http.StatusForbidden, "Your token ("+v.Token.Name+") may publish only under the sources "+strings.Join(v.Token.Sources, ", ")+", not under "+testSource+", where test events come from.")
		return
	}
	if p.deps.Publisher == nil {
		refuse(http.StatusServiceUnavailable, "This weir publishes no events from the portal (it was built without a publisher).")
		return
	}
	release, pr := p.deps.Publisher.Gate().Enter(ingress.PriorityNormal)
	if pr != nil {
		refuse(http.StatusServiceUnavailable, "weir is shedding load just now: "+pr.Detail+" Try again in a moment.")
		return
	}
	defer release()
	ev := &event.Event{
		ID: ulid.Make().String(), Source: testSource, SpecVersion: event.SpecVersion, Type: typ,
		Time: time.Now().UTC(), DataContentType: "application/json", Data: testData,
		Extensions: map[string]any{"traceparent": ingress.Traceparent(r.Header.Get("Traceparent"))},
	}
	if a := p.deps.Publisher.Admit(ev, "reject", ""); a.Problem != nil {
		refuse(a.Problem.Status, "The test event was refused: "+a.Problem.Detail)
		return
	}
	res, err := p.deps.Publisher.Publish(r.Context(), ev, "", 0)
	if err != nil {
		refuse(http.StatusServiceUnavailable, "The event bus did not take the test event; nothing was sent. Try again in a moment.")
		return
	}
	notice := "Test event " + res.ID + " of type " + typ + " published. Its delivery attempt appears below within seconds"
	if s.Mode == "pull" {
		notice = "Test event " + res.ID + " of type " + typ + " published; your app receives it on its next fetch"
	}
	if s.State == delivery.StateDisabled {
		notice += " (the subscription is paused: it waits until you resume)"
	}
	p.backToSub(w, r, v, s.Name, flash{Notice: notice + "."})
}

// deleteSubscription deletes a subscription created through the API or the
// portal, with the rule of DELETE /v1/subscriptions/{name}; the box that
// confirms it must be ticked.
func (p *Portal) deleteSubscription(w http.ResponseWriter, r *http.Request, v *viewer) {
	s, ok := p.visibleSub(w, r, v)
	if !ok {
		return
	}
	refuse := func(status int, msg string) {
		d := p.subPage(r, v, s)
		d.Delete = formErrors{"confirm": msg}
		p.renderSub(w, r, v, status, d)
	}
	if r.PostForm.Get("confirm") != "yes" {
		refuse(http.StatusUnprocessableEntity, "Tick the box to confirm: deleting cannot be undone.")
		return
	}
	err := p.deps.Delivery.Delete(r.Context(), s.Name)
	switch {
	case errors.Is(err, delivery.ErrDeclaredInConfig):
		refuse(http.StatusConflict, "This subscription is declared in weir.yaml: remove it there.")
		return
	case errors.Is(err, delivery.ErrNotFound):
		refuse(http.StatusNotFound, "This subscription is already gone.")
		return
	case err != nil:
		p.failErr(w, r, v, err)
		return
	}
	id := p.flash.put(v.Token.Name, flash{Notice: "Subscription " + s.Name + " deleted."})
	http.Redirect(w, r, "/ui/subscriptions?flash="+id, http.StatusSeeOther)
}

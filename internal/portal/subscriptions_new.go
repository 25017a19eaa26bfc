package portal

import (
	"errors"
	"net/http"
	"strings"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/field"
)

// newSubData is the new-subscription form's: what was typed and why it was
// refused, by field id.
type newSubData struct {
	Name, Types, Filter, Start, Mode, URL string
	Errors                                formErrors
}

// newSubscription shows the form.
func (p *Portal) newSubscription(w http.ResponseWriter, r *http.Request, v *viewer) {
	p.renderNewSub(w, r, v, http.StatusOK, &newSubData{Start: "new", Mode: "push"})
}

func (p *Portal) renderNewSub(w http.ResponseWriter, r *http.Request, v *viewer, status int, d *newSubData) {
	p.render(w, r, status, "subscriptions_new", page{Title: "New subscription", Nav: "subscriptions", Viewer: v, Data: d,
		Scripts: []string{"preview.js"}})
}

// splitTypes reads the types box: one pattern per line or comma-separated.
func splitTypes(s string) []string {
	var out []string
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// formField is the form's field id for a refused path of config or
// delivery validation ("push.url" is the URL box); "" is the form as a whole.
func formField(path string) string {
	switch {
	case path == "name", path == "filter", path == "start":
		return path
	case path == "types", strings.HasPrefix(path, "types["):
		return "types"
	case path == "push.url":
		return "url"
	case path == "", path == "push", path == "pull", strings.HasPrefix(path, "pull."):
		return "mode"
	}
	return ""
}

// createSubscription creates a subscription with the rules of POST
// /v1/subscriptions: the viewer's subscribe roles must cover its types, and
// only an admin's push URL may reach private addresses. weir makes the
// signing secret, shown once on the next page.
func (p *Portal) createSubscription(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := r.PostForm
	d := &newSubData{
		Name: strings.TrimSpace(f.Get("name")), Types: f.Get("types"), Filter: f.Get("filter"),
		Start: f.Get("start"), Mode: f.Get("mode"), URL: strings.TrimSpace(f.Get("url")), Errors: formErrors{},
	}
	refuse := func(status int, id, msg string) {
		d.Errors[id] = msg
		p.renderNewSub(w, r, v, status, d)
	}
	if d.Name == "" {
		refuse(http.StatusUnprocessableEntity, "name", "Give the subscription a name (letters, digits, - and _), e.g. fulfillment.")
		return
	}
	spec := &config.Subscription{Types: splitTypes(d.Types), Filter: d.Filter, Start: d.Start}
	if !v.Token.CanSubscribe(spec.Types) {
		refuse(http.StatusForbidden, "types", "Your token ("+v.Token.Name+") may not subscribe to "+strings.Join(spec.Types, ", ")+
			": its roles are "+strings.Join(v.Token.Roles, ", ")+". Ask an administrator for a subscribe role that covers them.")
		return
	}
	secret := ""
	switch d.Mode {
	case "push":
		secret = delivery.NewPushSecret()
		spec.Push = &config.Push{URL: d.URL, Secret: secret}
	case "pull":
		spec.Pull = &config.Pull{}
	default:
		refuse(http.StatusUnprocessableEntity, "mode", "Choose push (weir POSTs events to your app) or pull (your app fetches them).")
		return
	}
	err := p.deps.Delivery.Create(r.Context(), d.Name, spec, false, delivery.CreatorFor(v.Token.Name, v.Token))
	var fe *field.Error
	switch {
	case errors.Is(err, delivery.ErrDeclaredInConfig):
		refuse(http.StatusConflict, "name", "A subscription named "+d.Name+" is declared in weir.yaml; change it there, or pick another name.")
		return
	case errors.Is(err, delivery.ErrExists):
		refuse(http.StatusConflict, "name", "A subscription named "+d.Name+" already exists; pick another name.")
		return
	case errors.As(err, &fe):
		if errors.Is(err, delivery.ErrTargetDenied) && !v.Token.IsAdmin() {
			fe.Reason += " (only an administrator's subscriptions may reach private or loopback addresses)"
		}
		msg := fe.Reason
		if formField(fe.Path) == "" {
			msg = fe.Error() // a field the form does not have: name it
		}
		refuse(http.StatusUnprocessableEntity, formField(fe.Path), msg)
		return
	case errors.Is(err, bus.ErrUnavailable):
		refuse(http.StatusServiceUnavailable, "", "The event bus is unavailable, so nothing was created. Try again in a moment.")
		return
	case err != nil:
		p.failErr(w, r, v, err)
		return
	}
	notice := "Subscription " + d.Name + " created."
	if secret == "" {
		notice += " Your app fetches its events from GET /v1/subscriptions/" + d.Name + "/events or streams them from /stream."
	}
	p.backToSub(w, r, v, d.Name, flash{Notice: notice, Secret: secret})
}

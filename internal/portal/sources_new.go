package portal

import (
	"errors"
	"net/http"
	"strings"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/ingress"
)

// newSourceData is the new-source form's: what was typed and why it was
// refused, by field id.
type newSourceData struct {
	Name, Description, Scheme string
	// TypeMode is "fixed" (Type) or "from" (TypeFrom and TypePrefix).
	TypeMode, Type, TypeFrom, TypePrefix string
	// HMAC are the hmac scheme's settings, by field id.
	HMAC map[string]string
	// Schemes are those weir.yaml takes (config.Schemes).
	Schemes []string
	Errors  formErrors
}

// hmacField is one setting of the hmac scheme in the form.
type hmacField struct {
	ID, Label, Hint, Value string
}

// hmacFields are the hmac scheme's settings (verify.<id> in weir.yaml).
var hmacFields = []hmacField{
	{ID: "header", Label: "Signature header", Hint: "The header that carries the signature, e.g. X-Signature (required for hmac)."},
	{ID: "algorithm", Label: "Algorithm", Hint: "sha256 (the default) or sha512."},
	{ID: "encoding", Label: "Encoding", Hint: "hex (the default) or base64."},
	{ID: "prefix", Label: "Prefix", Hint: "Text before the digest in the header, e.g. sha256= (optional)."},
	{ID: "timestamp_header", Label: "Timestamp header", Hint: "A header with the signing time in unix seconds, signed as timestamp.body (optional)."},
}

// HMACFields are the hmac settings with what was typed.
func (d *newSourceData) HMACFields() []hmacField {
	out := make([]hmacField, len(hmacFields))
	for i, f := range hmacFields {
		f.Value = d.HMAC[f.ID]
		out[i] = f
	}
	return out
}

// newSource shows the form.
func (p *Portal) newSource(w http.ResponseWriter, r *http.Request, v *viewer) {
	p.renderNewSource(w, r, v, http.StatusOK, &newSourceData{Scheme: "standard-webhooks", TypeMode: "fixed"})
}

func (p *Portal) renderNewSource(w http.ResponseWriter, r *http.Request, v *viewer, status int, d *newSourceData) {
	d.Schemes = config.Schemes
	p.render(w, r, status, "sources_new", page{Title: "New source", Nav: "sources", Viewer: v, Data: d})
}

// sourceFormField is the form's field id for a refused path of a source
// ("verify.header" is the hmac header box); "" is the form as a whole.
func sourceFormField(path string) string {
	switch path {
	case "name", "description", "type", "type_from", "type_prefix":
		return path
	case "verify.scheme", "verify.secrets", "verify":
		return "scheme"
	case "verify.header":
		return "header"
	case "verify.algorithm":
		return "algorithm"
	case "verify.encoding":
		return "encoding"
	case "verify.prefix":
		return "prefix"
	case "verify.timestamp_header":
		return "timestamp_header"
	}
	if strings.HasPrefix(path, "verify.secrets[") {
		return "scheme"
	}
	return ""
}

// createSource creates a source with the rules of POST /v1/sources (admins
// only, checked by adminOnly). weir generates the signing secret, shown once
// on the next page.
func (p *Portal) createSource(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := r.PostForm
	trim := func(k string) string { return strings.TrimSpace(f.Get(k)) }
	d := &newSourceData{
		Name: trim("name"), Description: trim("description"), Scheme: trim("scheme"),
		TypeMode: trim("type_mode"), Type: trim("type"), TypeFrom: trim("type_from"), TypePrefix: trim("type_prefix"),
		HMAC: map[string]string{}, Errors: formErrors{},
	}
	for _, h := range hmacFields {
		d.HMAC[h.ID] = trim(h.ID)
	}
	refuse := func(status int, id, msg string) {
		d.Errors[id] = msg
		p.renderNewSource(w, r, v, status, d)
	}
	if d.Name == "" {
		refuse(http.StatusUnprocessableEntity, "name", "Give the source a name (letters, digits, - and _), e.g. billing: it becomes the end of its URL, /in/billing.")
		return
	}
	spec := ingress.SourceSpec{Name: d.Name, Description: d.Description, Verify: ingress.VerifySpec{Scheme: d.Scheme}}
	switch d.TypeMode {
	case "fixed":
		spec.Type = d.Type
		if d.Type == "" {
			refuse(http.StatusUnprocessableEntity, "type", "Give the event type every request becomes, e.g. invoice.paid.")
			return
		}
	case "from":
		spec.TypeFrom, spec.TypePrefix = d.TypeFrom, d.TypePrefix
		if d.TypeFrom == "" {
			refuse(http.StatusUnprocessableEntity, "type_from", "Say where the type is in each request: header:<Name> or json:/<pointer>, e.g. header:X-Event-Type.")
			return
		}
	default:
		refuse(http.StatusUnprocessableEntity, "type_mode", "Choose a fixed event type, or one taken from each request.")
		return
	}
	if d.Scheme == "hmac" {
		h := d.HMAC
		spec.Verify.Header, spec.Verify.Algorithm, spec.Verify.Encoding = h["header"], h["algorithm"], h["encoding"]
		spec.Verify.Prefix, spec.Verify.TimestampHeader = h["prefix"], h["timestamp_header"]
	}
	if !ingress.MayManageSource(v.Token, spec) {
		id := "type"
		if d.TypeMode == "from" {
			id = "type_from"
		}
		refuse(http.StatusForbidden, id, "Your roles let you add sources of one fixed event type that you may publish ("+
			strings.Join(v.Token.Roles, ", ")+"). An administrator adds the others.")
		return
	}
	c, err := p.deps.Sources.Create(r.Context(), spec, v.Token.Name)
	var fe *field.Error
	switch {
	case errors.Is(err, ingress.ErrSourceDeclaredInConfig):
		refuse(http.StatusConflict, "name", "A source named "+d.Name+" is declared in weir.yaml; pick another name.")
		return
	case errors.Is(err, ingress.ErrSourceExists):
		refuse(http.StatusConflict, "name", "A source named "+d.Name+" already exists; pick another name.")
		return
	case errors.Is(err, ingress.ErrTooManySources):
		refuse(http.StatusConflict, "", "weir holds as many sources created here as it may ("+err.Error()+"); delete one first.")
		return
	case errors.As(err, &fe):
		id := sourceFormField(fe.Path)
		msg := fe.Reason
		if id == "" || id == "scheme" && fe.Path != "verify.scheme" {
			msg = fe.Error() // a field the form does not show as such: name it
		}
		refuse(http.StatusUnprocessableEntity, id, msg)
		return
	case errors.Is(err, bus.ErrUnavailable):
		refuse(http.StatusServiceUnavailable, "", "The event bus is unavailable, so nothing was created. Try again in a moment.")
		return
	case err != nil:
		p.failErr(w, r, v, err)
		return
	}
	id := p.flash.put(v.Token.Name, flash{Notice: "Source " + c.Name + " created: it takes requests at " + c.URL + " now.", Secret: c.Secret})
	http.Redirect(w, r, "/ui/sources/"+c.Name+"?flash="+id, http.StatusSeeOther)
}

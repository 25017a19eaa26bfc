package portal

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/ingress"
	"github.com/weir-dev/weir/internal/token"
)

// registerSources adds the webhook source pages, with the rules of
// /v1/sources: every token may read sources (a listing holds no secret),
// only admins create and delete them and read their request log.
func (p *Portal) registerSources(mux *http.ServeMux) {
	if p.deps.Sources == nil {
		return
	}
	p.handle(mux, "GET /ui/sources", p.sourcesList)
	p.handle(mux, "GET /ui/sources/new", p.publishers(p.newSource))
	p.handle(mux, "POST /ui/sources/new", p.publishers(p.createSource))
	p.handle(mux, "GET /ui/sources/{name}", p.source)
	p.handle(mux, "POST /ui/sources/{name}/delete", p.managing(p.deleteSource))
	p.handle(mux, "POST /ui/sources/{name}/rotate", p.managing(p.rotateSecret))
}

// mayAddSources reports whether t may add a source of some kind: admins, and
// tokens with a publish role (ingress.MayManageSource decides on the form).
func mayAddSources(t *token.Token) bool {
	if t.IsAdmin() {
		return true
	}
	for _, r := range t.Roles {
		if strings.HasPrefix(r, "publish:") {
			return true
		}
	}
	return false
}

// publishers answers 403 with a sentence to a viewer who may add no source.
func (p *Portal) publishers(h func(http.ResponseWriter, *http.Request, *viewer)) func(http.ResponseWriter, *http.Request, *viewer) {
	return func(w http.ResponseWriter, r *http.Request, v *viewer) {
		if !mayAddSources(v.Token) {
			p.fail(w, r, v, http.StatusForbidden, "Your token ("+v.Token.Name+") may publish no event type, so it may add no source. "+
				"Ask an administrator to add the source; the list of sources shows the existing ones.")
			return
		}
		h(w, r, v)
	}
}

// managing answers 403 with a sentence unless the viewer may manage the
// source named in the path, by the rule of PUT and DELETE /v1/sources/{name}.
func (p *Portal) managing(h func(http.ResponseWriter, *http.Request, *viewer)) func(http.ResponseWriter, *http.Request, *viewer) {
	return func(w http.ResponseWriter, r *http.Request, v *viewer) {
		if src, err := p.deps.Sources.Get(r.PathValue("name")); err == nil && !ingress.MayManageSource(v.Token, src.SourceSpec) {
			p.fail(w, r, v, http.StatusForbidden, "Your token ("+v.Token.Name+") may not change this source: "+ingress.ErrSourceNotYours.Error()+".")
			return
		}
		h(w, r, v)
	}
}

// sourcesData is the list page's.
type sourcesData struct {
	Sources []ingress.SourceView
	Admin   bool
	Flash   *flash
}

// sourcesList lists every source: any token may, as GET /v1/sources.
func (p *Portal) sourcesList(w http.ResponseWriter, r *http.Request, v *viewer) {
	d := sourcesData{
		Sources: p.deps.Sources.List(),
		Admin:   mayAddSources(v.Token),
		Flash:   p.flash.take(v.Token.Name, r.URL.Query().Get("flash")),
	}
	p.render(w, r, http.StatusOK, "sources", page{Title: "Sources", Nav: "sources", Viewer: v, Data: d})
}

// sourceData is a source page's.
type sourceData struct {
	Source ingress.SourceView
	Flash  *flash
	// Admin may read the request log and change or delete the source: an
	// admin, or a publisher of its one fixed type (ingress.MayManageSource).
	Admin bool
	// Sender says what the sender must send; Curl and Send are samples.
	Sender []string
	Curl   string
	Send   string
	// SendFile is the body Send posts, to save as event.json.
	SendFile string
	Requests []ingress.RequestRecord
	// RequestsError says why the log could not be read, if so.
	RequestsError string
	Delete        formErrors
	// Rotate says why a rotation was refused, if so.
	Rotate string
}

// source shows one source: how to send to it and, to admins, its last requests.
func (p *Portal) source(w http.ResponseWriter, r *http.Request, v *viewer) {
	src, err := p.deps.Sources.Get(r.PathValue("name"))
	if err != nil {
		p.fail(w, r, v, http.StatusNotFound, "There is no source named "+r.PathValue("name")+". The list of sources shows every one.")
		return
	}
	d := p.sourcePage(r, v, src)
	d.Flash = p.flash.take(v.Token.Name, r.URL.Query().Get("flash"))
	p.renderSource(w, r, v, http.StatusOK, d)
}

// sourcePage gathers a source page's data.
func (p *Portal) sourcePage(r *http.Request, v *viewer, src ingress.SourceView) *sourceData {
	s := newSample(src)
	d := &sourceData{Source: src, Admin: ingress.MayManageSource(v.Token, src.SourceSpec), Sender: senderWords(src), Curl: s.curl(), Send: s.send(), SendFile: s.body}
	if !d.Admin || p.deps.Requests == nil {
		return d
	}
	recs, err := p.deps.Requests.Recent(r.Context(), src.Name, ingress.RequestsPerSource)
	if err != nil {
		d.RequestsError = "The request log could not be read just now; reload in a moment."
		if !errors.Is(err, bus.ErrUnavailable) {
			p.log.ErrorContext(r.Context(), "portal: read the request log", slog.String("source", src.Name), slog.Any("error", err))
		}
	}
	d.Requests = recs
	return d
}

func (p *Portal) renderSource(w http.ResponseWriter, r *http.Request, v *viewer, status int, d *sourceData) {
	p.render(w, r, status, "sources_detail", page{Title: "Source " + d.Source.Name, Nav: "sources", Viewer: v, Data: d, Scripts: []string{"copy.js"}})
}

// deleteSource deletes a source created through the API or the portal, with
// the rule of DELETE /v1/sources/{name}; the box that confirms it must be ticked.
func (p *Portal) deleteSource(w http.ResponseWriter, r *http.Request, v *viewer) {
	name := r.PathValue("name")
	src, err := p.deps.Sources.Get(name)
	if err != nil {
		p.fail(w, r, v, http.StatusNotFound, "There is no source named "+name+". The list of sources shows every one.")
		return
	}
	refuse := func(status int, msg string) {
		d := p.sourcePage(r, v, src)
		d.Delete = formErrors{"confirm": msg}
		p.renderSource(w, r, v, status, d)
	}
	if r.PostForm.Get("confirm") != "yes" {
		refuse(http.StatusUnprocessableEntity, "Tick the box to confirm: deleting cannot be undone.")
		return
	}
	err = p.deps.Sources.Delete(r.Context(), name)
	switch {
	case errors.Is(err, ingress.ErrSourceDeclaredInConfig):
		refuse(http.StatusConflict, "This source is declared in weir.yaml: remove it there.")
		return
	case errors.Is(err, ingress.ErrSourceNotFound):
		refuse(http.StatusNotFound, "This source is already gone.")
		return
	case errors.Is(err, bus.ErrUnavailable):
		refuse(http.StatusServiceUnavailable, "The event bus is unavailable, so nothing was deleted. Try again in a moment.")
		return
	case err != nil:
		p.failErr(w, r, v, err)
		return
	}
	id := p.flash.put(v.Token.Name, flash{Notice: "Source " + name + " deleted: requests to its URL are now answered 404."})
	http.Redirect(w, r, "/ui/sources?flash="+id, http.StatusSeeOther)
}

// rotateSecret gives an API source a new secret, shown once on the next
// page, as PUT /v1/sources/{name} with new secrets would.
func (p *Portal) rotateSecret(w http.ResponseWriter, r *http.Request, v *viewer) {
	name := r.PathValue("name")
	src, err := p.deps.Sources.Get(name)
	if err != nil {
		p.fail(w, r, v, http.StatusNotFound, "There is no source named "+name+". The list of sources shows every one.")
		return
	}
	keep := r.PostForm.Get("keep") == "yes"
	c, err := p.deps.Sources.RotateSecret(r.Context(), name, keep, v.Token.Name)
	var fe *field.Error
	if err != nil {
		status, msg := http.StatusConflict, err.Error()
		switch {
		case errors.As(err, &fe):
			status = http.StatusUnprocessableEntity
		case errors.Is(err, bus.ErrUnavailable):
			status, msg = http.StatusServiceUnavailable, "The event bus is unavailable, so the secret is unchanged. Try again in a moment."
		case errors.Is(err, ingress.ErrSourceNotFound):
			status = http.StatusNotFound
		case !errors.As(err, new(*ingress.SourceError)):
			p.failErr(w, r, v, err)
			return
		}
		d := p.sourcePage(r, v, src)
		d.Rotate = msg
		p.renderSource(w, r, v, status, d)
		return
	}
	notice := "New secret made: the old one no longer works."
	if keep {
		notice = "New secret made: the old one keeps working too until the next rotation, so the sender can switch without refused requests."
	}
	id := p.flash.put(v.Token.Name, flash{Notice: notice, Secret: c.Secret})
	http.Redirect(w, r, "/ui/sources/"+name+"?flash="+id, http.StatusSeeOther)
}

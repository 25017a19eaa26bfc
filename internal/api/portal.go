package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/problem"
)

// registerPortal adds POST /v1/portal/links: an admin makes a one-time
// sign-in link for the portal, scoped to roles.
func (a *API) registerPortal(mux *http.ServeMux) {
	if a.links == nil {
		return
	}
	mux.Handle("POST /v1/portal/links", a.auth(http.HandlerFunc(a.createPortalLink)))
}

// portalLinkBody is POST /v1/portal/links's body.
type portalLinkBody struct {
	Roles []string `json:"roles"`
	// TTL is how long the link, and the session it opens, last ("24h").
	TTL string `json:"ttl"`
}

func (a *API) createPortalLink(w http.ResponseWriter, r *http.Request) {
	tok := tokenOf(r)
	if !tok.IsAdmin() {
		forbidden(w, r, "Authorization", "only admin tokens may make portal sign-in links")
		return
	}
	var body portalLinkBody
	if !decodeBody(w, r, &body) {
		return
	}
	ttl := 24 * time.Hour
	if body.TTL != "" {
		d, err := time.ParseDuration(body.TTL)
		if err != nil {
			a.writeError(w, r, "invalid-portal-link", field.Errorf("ttl", "%q is not a duration (e.g. 30m, 24h)", body.TTL))
			return
		}
		ttl = d
	}
	link, secret, err := a.links.Create(r.Context(), body.Roles, ttl, tok.Name)
	var fe *field.Error
	if err != nil && !errors.As(err, &fe) {
		p := problem.New(http.StatusServiceUnavailable, "bus-unavailable", "the link could not be saved on the bus; nothing was made, retry")
		p.RetryAfter = busRetryAfter
		a.log.WarnContext(r.Context(), "portal link not saved", "error", err)
		p.Write(w, r)
		return
	}
	if err != nil {
		a.writeError(w, r, "invalid-portal-link", err)
		return
	}
	// The secret is in the fragment, which browsers never send: it stays
	// out of every proxy's and server's access log.
	writeJSON(w, http.StatusCreated, map[string]any{
		"url":        strings.TrimSuffix(a.publicURL, "/") + "/ui/signin#link=" + secret,
		"id":         link.ID,
		"roles":      link.Roles,
		"expires_at": link.Expires,
	})
}

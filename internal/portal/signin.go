package portal

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/weir-dev/weir/internal/token"
)

// signInData is the sign-in page's.
type signInData struct {
	Next  string
	Error string
}

// safeNext keeps a redirect after sign-in inside the portal.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

func (p *Portal) signInPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, _, err := p.sess.read(r); err == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	p.render(w, r, http.StatusOK, "signin", page{Title: "Sign in", Scripts: []string{"signin.js"},
		Data: signInData{Next: next}})
}

// signIn opens a session from a pasted token or a sign-in link's secret.
func (p *Portal) signIn(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	secret := strings.TrimSpace(r.PostFormValue("token"))
	refuse := func(msg string) {
		p.render(w, r, http.StatusUnauthorized, "signin", page{Title: "Sign in", Scripts: []string{"signin.js"},
			Data: signInData{Next: next, Error: msg}})
	}
	now := p.now()
	switch {
	case secret == "":
		refuse("Paste a token or open your sign-in link.")
	case strings.HasPrefix(secret, token.LinkPrefix):
		link, err := p.deps.Links.Redeem(r.Context(), secret, now)
		switch {
		case errors.Is(err, token.ErrLinkUnknown), errors.Is(err, token.ErrLinkExpired):
			refuse(err.Error())
			return
		case err != nil:
			p.failErr(w, r, nil, err)
			return
		}
		p.log.InfoContext(r.Context(), "portal: signed in with a link", slog.String("link", link.ID), slog.Any("roles", link.Roles))
		p.sess.issue(w, r, session{Kind: "link", Link: link.ID, Roles: link.Roles, Expires: link.Expires.Unix()})
		http.Redirect(w, r, next, http.StatusSeeOther)
	default:
		t, ok := p.deps.Tokens.Lookup(secret)
		if !ok {
			refuse("That token is not valid. Check that you pasted all of it.")
			return
		}
		p.log.InfoContext(r.Context(), "portal: signed in with a token", slog.String("token", t.Name))
		p.sess.issue(w, r, session{Kind: "token", Hash: t.Hash, Expires: now.Add(p.cfg.SessionTTL).Unix()})
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

func (p *Portal) signOut(w http.ResponseWriter, r *http.Request) {
	p.sess.end(w, r)
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}

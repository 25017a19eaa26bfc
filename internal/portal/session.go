package portal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/token"
)

// Cookie names. The session cookie is the signed-in person; the CSRF cookie is
// a random value that every form echoes, signed, in its csrf field.
const (
	sessionCookie = "weir_session"
	csrfCookie    = "weir_csrf"
	csrfField     = "csrf"
)

// errNoSession means the request carries no valid session: missing, forged,
// expired, or naming a token that no longer exists.
var errNoSession = errors.New("no valid session")

// session is what the signed cookie holds.
type session struct {
	// Kind is "token" (signed in with a token) or "link" (a sign-in link).
	Kind string `json:"k"`
	// Hash is the token's hash, for Kind token: the token is looked up on
	// every request, so that removing it from weir.yaml ends its sessions.
	Hash string `json:"h,omitempty"`
	// Link is the link's id and Roles its roles, for Kind link.
	Link  string   `json:"l,omitempty"`
	Roles []string `json:"r,omitempty"`
	// Expires is when the session ends (Unix seconds).
	Expires int64 `json:"e"`
}

// sessions signs and reads session cookies with a key every node shares.
type sessions struct {
	key    []byte
	tokens *token.Store
	secure bool
	now    func() time.Time
}

func (s *sessions) sign(payload []byte) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("session\x00"))
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// issue sets the session cookie.
func (s *sessions) issue(w http.ResponseWriter, r *http.Request, sess session) {
	payload, _ := json.Marshal(sess)
	value := base64.RawURLEncoding.EncodeToString(payload) + "." + s.sign(payload)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/ui/",
		Expires: time.Unix(sess.Expires, 0), HttpOnly: true,
		Secure: s.secure || r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
}

// end clears the session cookie.
func (s *sessions) end(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/ui/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure || r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// read returns the request's session and the token it acts as.
func (s *sessions) read(r *http.Request) (*token.Token, session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) > 4096 {
		return nil, session{}, errNoSession
	}
	enc, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil, session{}, errNoSession
	}
	payload, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || !hmac.Equal([]byte(sig), []byte(s.sign(payload))) {
		return nil, session{}, errNoSession
	}
	var sess session
	if err := json.Unmarshal(payload, &sess); err != nil || s.now().Unix() >= sess.Expires {
		return nil, session{}, errNoSession
	}
	switch sess.Kind {
	case "token":
		t, ok := s.tokens.ByHash(sess.Hash)
		if !ok {
			return nil, session{}, errNoSession
		}
		return t, sess, nil
	case "link":
		if token.CheckRoles("roles", sess.Roles) != nil {
			return nil, session{}, errNoSession
		}
		return &token.Token{Name: "link:" + sess.Link, Roles: sess.Roles}, sess, nil
	}
	return nil, session{}, errNoSession
}

// csrfToken is the value a form of this browser must carry: the CSRF cookie's
// value signed with the session key. A new cookie is set when there is none.
func (s *sessions) csrfToken(w http.ResponseWriter, r *http.Request) string {
	v := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		v = c.Value
	} else {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		v = hex.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/ui/", HttpOnly: true,
			Secure: s.secure || r.TLS != nil, SameSite: http.SameSiteStrictMode})
		// The same request's form is rendered with the new value.
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	}
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("csrf\x00"))
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether a form's csrf field matches this browser's cookie.
func (s *sessions) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) != 32 {
		return false
	}
	got := r.PostFormValue(csrfField)
	if got == "" {
		got = r.Header.Get("X-CSRF-Token")
	}
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("csrf\x00"))
	m.Write([]byte(c.Value))
	want := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	return got != "" && hmac.Equal([]byte(got), []byte(want))
}

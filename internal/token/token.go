// Package token holds weir's API credentials: bearer tokens with roles scoped to
// event-type patterns.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/weir-dev/weir/internal/event"
)

// Prefix starts every token weir generates, so that secret scanners can spot one.
const Prefix = "weir_"

// ErrMissing means the request carried no bearer token.
var ErrMissing = errors.New("missing bearer token: send Authorization: Bearer <token>")

// ErrUnknown means the bearer token matches no configured token.
var ErrUnknown = errors.New("the bearer token is not valid")

// Token is one credential as weir keeps it: only the hash of its secret.
type Token struct {
	// Name identifies the token in logs. It is also the token's identity:
	// unique among the tokens (weir.yaml refuses two of one name), kept when
	// the secret is rotated, and the scope of de-duplication on POST
	// /v1/events, so that one publisher cannot make another's events look
	// like duplicates.
	Name string `json:"name"`
	// Hash is the hex SHA-256 of the secret.
	Hash string `json:"sha256"`
	// Roles are admin, publish:<pattern>, subscribe:<pattern>, read:views
	// and read:views:<view>.
	Roles []string `json:"roles"`
	// Sources, when not empty, bind the token to source prefixes: it may
	// publish only events whose source is under one of them (see
	// UnderSource). Empty: any source.
	Sources []string `json:"sources,omitempty"`
}

// CanSource reports whether the token may publish events of source src: it
// has no Sources, or src is under one of them both as written and once its
// dot segments and percent-encoded unreserved characters are resolved, so
// that neither "/apps/warehouse/../billing" nor "/apps/%77arehouse" slips
// past a binding or into one.
func (t *Token) CanSource(src string) bool {
	if len(t.Sources) == 0 {
		return true
	}
	clean := event.CleanSource(src)
	for _, p := range t.Sources {
		if UnderSource(p, src) && UnderSource(p, clean) {
			return true
		}
	}
	return false
}

// UnderSource reports whether source src is under prefix p: equal to it, or
// continuing it after a path boundary. "/apps/warehouse" covers
// "/apps/warehouse" and "/apps/warehouse/eu", not "/apps/warehouse2"; a prefix
// that ends in "/" or ":" ("urn:acme:") covers everything that starts with it.
func UnderSource(p, src string) bool {
	if !strings.HasPrefix(src, p) || p == "" {
		return false
	}
	if len(src) == len(p) {
		return true
	}
	switch p[len(p)-1] {
	case '/', ':':
		return true
	}
	switch src[len(p)] {
	case '/', '?', '#':
		return true
	}
	return false
}

// Can reports whether the token's roles allow action ("publish" or "subscribe")
// on event type typ. admin allows everything.
func (t *Token) Can(action, typ string) bool {
	for _, r := range t.Roles {
		if r == "admin" {
			return true
		}
		kind, pattern, _ := strings.Cut(r, ":")
		if kind == action && Match(pattern, typ) {
			return true
		}
	}
	return false
}

// CanSee reports whether the portal's catalog shows event type typ to the
// token: admin, or a publish or subscribe role that covers it. A person sees
// the types their apps produce or consume, not the whole company's.
func (t *Token) CanSee(typ string) bool {
	return t.Can("publish", typ) || t.Can("subscribe", typ)
}

// RoleReadViews lets a token read every view; read:views:<name> reads one.
const RoleReadViews = "read:views"

// viewName is the shape of a view's name (config.ValidSubscriptionName).
var viewName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// CanReadView reports whether the token may read view name: admin,
// read:views, or read:views:<name>.
func (t *Token) CanReadView(name string) bool {
	for _, r := range t.Roles {
		if r == "admin" || r == RoleReadViews || r == RoleReadViews+":"+name {
			return true
		}
	}
	return false
}

// IsAdmin reports whether the token has the admin role.
func (t *Token) IsAdmin() bool {
	for _, r := range t.Roles {
		if r == "admin" {
			return true
		}
	}
	return false
}

// Match reports whether event type typ matches pattern (see event.MatchType).
func Match(pattern, typ string) bool { return event.MatchType(pattern, typ) }

// Store looks tokens up by the hash of their secret.
type Store struct {
	byHash map[string]*Token
}

// NewStore builds a store of tokens.
func NewStore(tokens []Token) *Store {
	s := &Store{byHash: make(map[string]*Token, len(tokens))}
	for i := range tokens {
		s.byHash[tokens[i].Hash] = &tokens[i]
	}
	return s
}

// Hash is the stored form of a secret.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Authenticate finds the token of the request's Authorization: Bearer header.
// Lookup is by SHA-256 of the presented value, so its time does not depend on how
// much of a real secret the value shares.
func (s *Store) Authenticate(r *http.Request) (*Token, error) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return nil, ErrMissing
	}
	t, ok := s.byHash[Hash(strings.TrimSpace(secret))]
	if !ok {
		return nil, ErrUnknown
	}
	return t, nil
}

// Generate makes a new random secret.
func Generate() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return Prefix + base64.RawURLEncoding.EncodeToString(b)
}

// bootstrapFile holds the admin token created on first start.
const bootstrapFile = "admin-token.json"

// BootstrapPath is where the admin token made on the first start is kept
// (its hash only) under dir.
func BootstrapPath(dir string) string { return filepath.Join(dir, bootstrapFile) }

// Bootstrap is the admin token weir makes when the configuration declares
// none.
type Bootstrap struct {
	// Token is the admin token, as kept.
	Token Token
	// Secret is set only when the token is new and not yet saved: the caller
	// shows it once, after Save.
	Secret string
	path   string
}

// LoadBootstrap returns the admin token kept in dir, or a new one when there
// is none. A new one is not written until Save, so that a start that fails
// before it can show the secret does not use the token up.
func LoadBootstrap(dir string) (*Bootstrap, error) {
	path := BootstrapPath(dir)
	raw, err := os.ReadFile(path)
	if err == nil {
		var tok Token
		if err := json.Unmarshal(raw, &tok); err != nil || tok.Hash == "" {
			return nil, fmt.Errorf("%s is damaged; delete it to create a new admin token", path)
		}
		return &Bootstrap{Token: tok, path: path}, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	secret := Generate()
	return &Bootstrap{Token: Token{Name: "admin", Hash: Hash(secret), Roles: []string{"admin"}}, Secret: secret, path: path}, nil
}

// Save writes a new token's hash (0600, in a 0700 directory); it does
// nothing for a token that was already kept.
func (b *Bootstrap) Save() error {
	if b.Secret == "" {
		return nil
	}
	raw, _ := json.MarshalIndent(b.Token, "", "  ")
	if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
		return err
	}
	tmp := b.path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, b.path)
}

// Covers reports whether every type matched by pattern sub is matched by
// pattern role: a token may only subscribe to what its roles allow.
func Covers(role, sub string) bool { return event.CoversPattern(role, sub) }

// CanSubscribe reports whether the token may read events of every pattern.
func (t *Token) CanSubscribe(patterns []string) bool {
	if t.IsAdmin() {
		return true
	}
	for _, p := range patterns {
		ok := false
		for _, r := range t.Roles {
			if pat, found := strings.CutPrefix(r, "subscribe:"); found && Covers(pat, p) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

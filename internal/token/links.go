package token

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/field"
)

// LinkPrefix starts the secret of every portal sign-in link.
const LinkPrefix = "weirlink_"

// LinksBucket keeps the portal's sign-in links, by the hash of their secret,
// and the key that signs portal sessions. It is on the bus so that a link made
// on one node signs in on any other, and a session cookie is good on all of them.
const LinksBucket = "weir-portal"

// MaxLinkTTL bounds how long a sign-in link, and the session it opens, lasts.
const MaxLinkTTL = 30 * 24 * time.Hour

// Link errors, decided on by the portal's sign-in.
var (
	// ErrLinkUnknown means no link has that secret: never made, or already used.
	ErrLinkUnknown = errors.New("this sign-in link is not valid or was already used; ask for a new one")
	// ErrLinkExpired means the link's time ran out before it was used.
	ErrLinkExpired = errors.New("this sign-in link has expired; ask for a new one")
)

// Link is a one-time portal sign-in, as kept: only the hash of its secret.
type Link struct {
	// ID names the link in logs and in the session it opens.
	ID string `json:"id"`
	// Roles are what the person who uses the link may see and do.
	Roles []string `json:"roles"`
	// Expires is when the link, and the session it opens, end.
	Expires time.Time `json:"expires_at"`
	// CreatedBy is the name of the token that made the link.
	CreatedBy string `json:"created_by"`
}

// Token is the credential a session opened by the link acts as.
func (l *Link) Token() *Token {
	return &Token{Name: "link:" + l.ID, Roles: l.Roles}
}

// Links makes and redeems portal sign-in links.
type Links struct {
	kv jetstream.KeyValue
}

// OpenLinks opens (creating if needed) the links bucket.
func OpenLinks(ctx context.Context, js jetstream.JetStream, replicas int) (*Links, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      LinksBucket,
		Description: "weir: portal sign-in links and the session signing key",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		// A link unused past its time is dropped by the bucket itself; the
		// signing key is written again whenever it is read older than this.
		TTL: MaxLinkTTL + 24*time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", LinksBucket, err)
	}
	return &Links{kv: kv}, nil
}

// CheckRoles validates roles given for a link, naming the field.
func CheckRoles(path string, roles []string) error {
	if len(roles) == 0 {
		return field.Errorf(path, "at least one role is required (subscribe:order.*, publish:order.*, admin)")
	}
	if len(roles) > 50 {
		return field.Errorf(path, "at most 50 roles")
	}
	for i, r := range roles {
		if err := ValidRole(r); err != nil {
			return field.Wrap(fmt.Sprintf("%s[%d]", path, i), err)
		}
	}
	return nil
}

// ValidRole checks one role: admin, publish:<pattern>, subscribe:<pattern>,
// read:views (every view) or read:views:<name> (one view).
func ValidRole(r string) error {
	if r == "admin" || r == RoleReadViews {
		return nil
	}
	if name, ok := strings.CutPrefix(r, RoleReadViews+":"); ok {
		if !viewName.MatchString(name) {
			return fmt.Errorf("%q: a view name is 1-64 letters, digits, '-' or '_', starting with a letter or digit", r)
		}
		return nil
	}
	kind, pattern, ok := strings.Cut(r, ":")
	if !ok || (kind != "publish" && kind != "subscribe") {
		return fmt.Errorf("%q is not a role: use admin, publish:<type pattern>, subscribe:<type pattern>, read:views or read:views:<view>", r)
	}
	return event.ValidPattern(pattern)
}

// Create makes a link for roles that lasts ttl, and returns it with its
// secret, which is not kept and cannot be shown again.
func (l *Links) Create(ctx context.Context, roles []string, ttl time.Duration, by string) (*Link, string, error) {
	if err := CheckRoles("roles", roles); err != nil {
		return nil, "", err
	}
	if ttl <= 0 || ttl > MaxLinkTTL {
		return nil, "", field.Errorf("ttl", "must be more than 0 and at most %s", MaxLinkTTL)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret := LinkPrefix + base64.RawURLEncoding.EncodeToString(b)
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	link := &Link{ID: base64.RawURLEncoding.EncodeToString(id), Roles: roles,
		Expires: time.Now().Add(ttl).UTC().Truncate(time.Second), CreatedBy: by}
	raw, _ := json.Marshal(link)
	if _, err := l.kv.Create(ctx, linkKey(secret), raw); err != nil {
		return nil, "", fmt.Errorf("save link: %w", err)
	}
	return link, secret, nil
}

// Redeem uses a link up: the first call with its secret gets the link, every
// later one ErrLinkUnknown, on any node.
func (l *Links) Redeem(ctx context.Context, secret string, now time.Time) (*Link, error) {
	if !strings.HasPrefix(secret, LinkPrefix) || len(secret) > 200 {
		return nil, ErrLinkUnknown
	}
	key := linkKey(secret)
	e, err := l.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrLinkUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("read link: %w", err)
	}
	var link Link
	if err := json.Unmarshal(e.Value(), &link); err != nil {
		return nil, ErrLinkUnknown
	}
	// Deleting at the revision read makes two uses at once race for one
	// delete: only one of them succeeds.
	if err := l.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		return nil, ErrLinkUnknown
	}
	if !now.Before(link.Expires) {
		return nil, ErrLinkExpired
	}
	return &link, nil
}

// SessionKey is the key that signs portal sessions, made on first use and
// shared by every node through the bucket.
func (l *Links) SessionKey(ctx context.Context) ([]byte, error) {
	const key = "session-key"
	e, err := l.kv.Get(ctx, key)
	if err == nil && len(e.Value()) >= 32 {
		if time.Since(e.Created()) > MaxLinkTTL/2 {
			// Written again before the bucket's age limit drops it.
			_, _ = l.kv.Update(ctx, key, e.Value(), e.Revision())
		}
		return e.Value(), nil
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("read session key: %w", err)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	if _, err := l.kv.Create(ctx, key, b); err != nil {
		// Another node made it first: use theirs.
		e, gerr := l.kv.Get(ctx, key)
		if gerr != nil {
			return nil, fmt.Errorf("make session key: %w", errors.Join(err, gerr))
		}
		return e.Value(), nil
	}
	return b, nil
}

// ByHash finds a token by the hash of its secret, for a portal session that
// keeps the hash: a token removed from the configuration ends its sessions.
func (s *Store) ByHash(hash string) (*Token, bool) {
	t, ok := s.byHash[hash]
	return t, ok
}

// Lookup finds the token of a presented secret.
func (s *Store) Lookup(secret string) (*Token, bool) {
	return s.ByHash(Hash(strings.TrimSpace(secret)))
}

func linkKey(secret string) string { return "link." + Hash(secret) }

package portal

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/token"
)

// An expired session, one signed with another key, and one naming a token
// that is gone all read as no session.
func TestSessionsExpireAndAreBoundToTheirKeyAndToken(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	tokens := token.NewStore([]token.Token{{Name: "a", Hash: token.Hash("secret-a"), Roles: []string{"admin"}}})
	s := &sessions{key: []byte("0123456789abcdef0123456789abcdef"), tokens: tokens, now: func() time.Time { return now }}

	cookieOf := func(sess session, with *sessions) *http.Cookie {
		rec := httptest.NewRecorder()
		with.issue(rec, httptest.NewRequest(http.MethodGet, "/ui/", nil), sess)
		return rec.Result().Cookies()[0]
	}
	read := func(c *http.Cookie) error {
		r := httptest.NewRequest(http.MethodGet, "/ui/", nil)
		r.AddCookie(c)
		_, _, err := s.read(r)
		return err
	}

	good := cookieOf(session{Kind: "token", Hash: token.Hash("secret-a"), Expires: now.Add(time.Hour).Unix()}, s)
	require.NoError(t, read(good))

	expired := cookieOf(session{Kind: "token", Hash: token.Hash("secret-a"), Expires: now.Add(-time.Second).Unix()}, s)
	require.ErrorIs(t, read(expired), errNoSession)

	other := &sessions{key: []byte("another key, another weir, 32 b."), tokens: tokens, now: s.now}
	require.ErrorIs(t, read(cookieOf(session{Kind: "token", Hash: token.Hash("secret-a"), Expires: now.Add(time.Hour).Unix()}, other)), errNoSession)

	gone := cookieOf(session{Kind: "token", Hash: token.Hash("removed"), Expires: now.Add(time.Hour).Unix()}, s)
	require.ErrorIs(t, read(gone), errNoSession)

	link := cookieOf(session{Kind: "link", Link: "x", Roles: []string{"subscribe:order.*"}, Expires: now.Add(time.Hour).Unix()}, s)
	require.NoError(t, read(link))
	badRoles := cookieOf(session{Kind: "link", Link: "x", Roles: []string{"root"}, Expires: now.Add(time.Hour).Unix()}, s)
	require.ErrorIs(t, read(badRoles), errNoSession)

	// Time passes: the good one expires too.
	now = now.Add(2 * time.Hour)
	require.ErrorIs(t, read(good), errNoSession)
}

func TestSafeNextStaysInThePortal(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/ui/catalog": "/ui/catalog", "//evil.example/ui/": "/ui/", "https://evil.example": "/ui/",
		"/ui/\\evil": "/ui/", "": "/ui/", "/v1/whoami": "/ui/",
	} {
		require.Equal(t, want, safeNext(in), in)
	}
}

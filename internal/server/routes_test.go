package server

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/problem"
)

// Every answer to a route or method weir does not have is a problem, like
// every other error (docs/errors.md), and a 405 keeps its Allow header.
func TestUnknownRoutesAndMethodsAreProblems(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	for _, tc := range []struct {
		method, path, tok string
		status            int
		kind, allow       string
	}{
		{"GET", "/nope", "", 404, "not-found", ""},
		{"POST", "/", "", 405, "method-not-allowed", "GET, HEAD"},
		{"GET", "/in/shop", "", 405, "method-not-allowed", "POST"},
		{"PUT", "/in/nope", "", 405, "method-not-allowed", "POST"},
		{"GET", "/in/shop/more", "", 404, "not-found", ""},
		{"POST", "/in/nope", "", 404, "unknown-source", ""},
		{"POST", "/healthz", "", 405, "method-not-allowed", "GET, HEAD"},
		{"DELETE", "/readyz", "", 405, "method-not-allowed", "GET, HEAD"},
		{"POST", "/metrics", "", 405, "method-not-allowed", "GET, HEAD"},
		{"GET", "/v1/nope", "", 401, "unauthorized", ""},
		{"GET", "/v1/nope", adminSecret, 404, "not-found", ""},
		{"GET", "/debug/pprof/nope", adminSecret, 404, "not-found", ""},
	} {
		r := do(t, apiRequest(t, tc.method, b.base+tc.path, tc.tok, "application/json", "{}"))
		what := tc.method + " " + tc.path
		require.Equal(t, tc.status, r.status, "%s: %s", what, r.raw)
		require.Equal(t, "application/problem+json", r.header.Get("Content-Type"), what)
		require.Equal(t, problem.TypeBase+tc.kind, r.body["type"], what)
		require.EqualValues(t, tc.status, r.body["status"], what)
		require.Equal(t, tc.path, r.body["instance"], what)
		require.Equal(t, tc.allow, r.header.Get("Allow"), what)
	}

	// GET / sends a browser to the portal.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(b.base + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/ui/", resp.Header.Get("Location"))

	// Routes that exist still answer as before.
	require.Equal(t, http.StatusOK, do(t, mustGet(t, b.base+"/healthz")).status)
	require.Equal(t, http.StatusAccepted, b.sendShop(t, `{"a":1}`, "m-routes").status)
	r := do(t, apiRequest(t, "GET", b.base+"/v1/whoami", adminSecret, "", ""))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
}

package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/server"
	"github.com/weir-dev/weir/internal/verify"
	"github.com/weir-dev/weir/internal/weirtest"
)

// Secrets the portal tests use.
const (
	adminSecret  = "test-admin-token-0123456789"
	ordersSecret = "test-orders-token-0123456789"
	shopSecret   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// node is a running weir and its address.
type node struct {
	srv  *server.Server
	base string
}

// startWeir runs weir with two tokens (admin; subscribe and publish order.*)
// and one source, and stops it when the test ends.
func startWeir(t testing.TB, extra string) *node {
	t.Helper()
	yaml := `
server: {addr: "127.0.0.1:0", shutdown_timeout: 10s}
log: {level: error}
tokens:
  - {name: admin, secret: ` + adminSecret + `, roles: [admin]}
  - {name: orders-app, secret: ` + ordersSecret + `, roles: ["subscribe:order.*", "publish:order.*"]}
sources:
  shop:
    verify: {scheme: standard-webhooks, secrets: ["` + shopSecret + `"]}
    type: order.created
` + extra
	cfg, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	srv := server.New(cfg, weirtest.Logger(t), io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, srv.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	return &node{srv: srv, base: "http://" + srv.Addr()}
}

// browser is an HTTP client with cookies that does not follow redirects, so
// that tests see where the portal sends it.
type browser struct {
	t    testing.TB
	c    *http.Client
	base string
}

func newBrowser(t testing.TB, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// answer is a page as the browser got it.
type answer struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) answer {
	b.t.Helper()
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

func (b *browser) get(path string) answer {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	require.NoError(b.t, err)
	return b.do(req)
}

// post sends a form; csrf is added unless the form has one.
func (b *browser) post(path string, form url.Values) answer {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a page's form.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	a := b.get(path)
	m := csrfRe.FindStringSubmatch(a.body)
	require.NotNil(b.t, m, "no csrf field on %s (%d): %s", path, a.status, a.body)
	return html.UnescapeString(m[1])
}

// signIn signs the browser in with a token or a link secret.
func (b *browser) signIn(secret string) answer {
	b.t.Helper()
	return b.post("/ui/signin", url.Values{"csrf": {b.csrf("/ui/signin")}, "token": {secret}, "next": {"/ui/"}})
}

// api calls the /v1 API with a bearer token and decodes the JSON answer.
func api(t testing.TB, base, method, path, secret string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// postSigned posts body to target signed the Standard Webhooks way with
// secret and delivery id, and returns the status.
func postSigned(t testing.TB, target, secret, body, id string) int {
	t.Helper()
	h, err := verify.Sign(verify.Config{Scheme: verify.SchemeStandardWebhooks, Secrets: []string{secret}}, []byte(body), time.Now(), id)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	require.NoError(t, err)
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

package portal_test

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/cli"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// createSource sends the new-source form.
func (b *browser) createSource(form url.Values) answer {
	b.t.Helper()
	form.Set("csrf", b.csrf("/ui/sources/new"))
	return b.post("/ui/sources/new", form)
}

// pre returns the text of the <pre id="id"> of a page, as a browser shows it.
func pre(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<pre id="` + id + `">(.*?)</pre>`).FindStringSubmatch(body)
	require.NotNil(t, m, "no %s on the page: %s", id, body)
	return html.UnescapeString(m[1])
}

// runCurlSample runs a page's curl sample with sh, SECRET set, and returns
// what it printed. It skips when the machine lacks the sample's tools.
func runCurlSample(t *testing.T, sample, secret string) string {
	t.Helper()
	for _, tool := range []string{"sh", "curl", "openssl", "od", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the curl sample needs %s, which is not installed", tool)
		}
	}
	cmd := exec.Command("sh", "-c", sample)
	cmd.Env = append(os.Environ(), "SECRET="+secret)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), "the sample failed:\n%s\n%s", sample, out.String())
	return out.String()
}

// runSendSample runs a page's weir send sample through cli.Main, as the
// shell would: $SECRET expanded, event.json written with the page's body.
func runSendSample(t *testing.T, page, secret string) string {
	t.Helper()
	sample := pre(t, page, "send-sample")
	m := regexp.MustCompile(`Save the body <code>(.*?)</code>`).FindStringSubmatch(page)
	require.NotNil(t, m)
	file := filepath.Join(t.TempDir(), "event.json")
	require.NoError(t, os.WriteFile(file, []byte(html.UnescapeString(m[1])), 0o600))
	args := shellWords(t, strings.ReplaceAll(sample, `"$SECRET"`, "'"+secret+"'"))
	require.Equal(t, []string{"weir", "send"}, args[:2])
	require.Equal(t, "event.json", args[len(args)-1])
	args[len(args)-1] = file
	var stdout, stderr bytes.Buffer
	code := cli.Main(args[1:], &stdout, &stderr)
	require.Equal(t, 0, code, "weir send %v: %s%s", args, stdout.String(), stderr.String())
	return stdout.String()
}

// shellWords splits a command line with single quotes only, which is all
// the samples use once $SECRET is in.
func shellWords(t *testing.T, s string) []string {
	var out []string
	var w strings.Builder
	in, quoted := false, false
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r == '\'':
			in, quoted = !in, true
		case r == ' ' && !in:
			if w.Len() > 0 || quoted {
				out = append(out, w.String())
			}
			w.Reset()
			quoted = false
		default:
			w.WriteRune(r)
		}
	}
	require.False(t, in, "unbalanced quotes in %s", s)
	return append(out, w.String())
}

func TestAnAdminCreatesASourceAndSeesItsRequests(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)

	a := b.get("/ui/sources")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, `href="/ui/sources/shop"`)
	require.Contains(t, a.body, n.base+"/in/shop")
	require.Contains(t, a.body, `href="/ui/sources/new"`)

	a = b.get("/ui/sources/new")
	require.Equal(t, http.StatusOK, a.status)
	for _, s := range config.Schemes {
		require.Regexp(t, `<option( selected)?>`+s+`</option>`, a.body)
	}

	a = b.createSource(url.Values{"name": {"billing"}, "description": {"Invoices " + xssScript + xssImg},
		"scheme": {"standard-webhooks"}, "type_mode": {"fixed"}, "type": {"invoice.paid"}})
	require.Equal(t, http.StatusSeeOther, a.status, a.body)
	loc := a.header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/ui/sources/billing?flash="), loc)
	first := b.get(loc)
	require.Equal(t, http.StatusOK, first.status)
	secret := secretRe.FindString(html.UnescapeString(first.body))
	require.NotEmpty(t, secret, "the new secret is shown: %s", first.body)
	require.Contains(t, first.body, "shown this once")
	require.Contains(t, first.body, `data-copy="secret-value"`)
	require.Contains(t, first.body, `src="/ui/static/copy.js"`)
	noXSS(t, first.body)
	require.Contains(t, first.body, "&lt;script&gt;alert(1)&lt;/script&gt;")

	page := b.get("/ui/sources/billing")
	require.Empty(t, secretRe.FindString(html.UnescapeString(page.body)), "a reload does not show the secret")
	require.Contains(t, page.body, "webhook-signature")
	curl := pre(t, page.body, "curl-sample")
	require.Contains(t, curl, "'"+n.base+"/in/billing'")
	noXSS(t, b.get("/ui/sources").body)

	// Both samples send a request weir accepts.
	require.Contains(t, runSendSample(t, page.body, secret), "202 Accepted")
	require.Contains(t, runCurlSample(t, curl, secret), "HTTP/1.1 202 Accepted")
	require.Contains(t, runCurlSample(t, curl, secret), "HTTP/1.1 202 Accepted", "a second run is no duplicate")

	// A request signed with another secret is refused, and logged so.
	req, err := http.NewRequest(http.MethodPost, n.base+"/in/billing", strings.NewReader(`{"a":1}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", "msg_1")
	req.Header.Set("webhook-timestamp", fmt.Sprint(time.Now().Unix()))
	req.Header.Set("webhook-signature", "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	weirtest.Eventually(t, 10*time.Second, func() error {
		a := b.get("/ui/sources/billing")
		switch {
		case strings.Count(a.body, `<span class="pill accepted">accepted</span>`) != 3:
			return errors.New("the three accepted requests are not listed yet")
		case !strings.Contains(a.body, `<span class="pill refused">refused</span>`):
			return errors.New("the refused request is not listed yet")
		case !strings.Contains(a.body, "<code>signature-invalid</code>"):
			return errors.New("the refusal's problem type is not shown")
		case !strings.Contains(a.body, "invoice.paid"):
			return errors.New("the event type is not shown")
		}
		return nil
	})
}

func TestTheSamplesOfEverySchemeAreAccepted(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)
	for _, spec := range []map[string]any{
		{"name": "gh", "verify": map[string]any{"scheme": "github"}, "type_from": "header:X-GitHub-Event", "type_prefix": "github."},
		{"name": "st", "verify": map[string]any{"scheme": "stripe"}, "type_from": "json:/type"},
		{"name": "sh", "verify": map[string]any{"scheme": "shopify"}, "type": "shop.order"},
		{"name": "hm", "verify": map[string]any{"scheme": "hmac", "header": "X-Sig", "algorithm": "sha512", "encoding": "base64",
			"prefix": "sha512=", "timestamp_header": "X-Ts"}, "type_from": "json:/meta/k~1ind", "type_prefix": "hm."},
		{"name": "open", "verify": map[string]any{"scheme": "none"}, "type": "open.thing"},
	} {
		name := spec["name"].(string)
		status, out := api(t, n.base, http.MethodPost, "/v1/sources", adminSecret, spec)
		require.Equal(t, http.StatusCreated, status, out)
		secret, _ := out["secret"].(string)
		page := b.get("/ui/sources/" + name).body
		require.Contains(t, runCurlSample(t, pre(t, page, "curl-sample"), secret), "HTTP/1.1 202 Accepted", name)
		if name != "hm" {
			require.Contains(t, runSendSample(t, page, secret), "202 Accepted", name)
		} else {
			require.NotContains(t, page, `id="send-sample"`)
		}
	}
}

func TestARefusedSourceFormShowsTheErrorNextToItsField(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)

	for _, c := range []struct {
		form   url.Values
		status int
		field  string
		next   string
	}{
		{url.Values{"name": {"a b"}, "scheme": {"none"}, "type_mode": {"fixed"}, "type": {"x.y"}}, 422, "name", `id="description"`},
		{url.Values{"name": {"shop"}, "scheme": {"none"}, "type_mode": {"fixed"}, "type": {"x.y"}}, 409, "name", `id="description"`},
		{url.Values{"name": {"ok"}, "scheme": {"rot13"}, "type_mode": {"fixed"}, "type": {"x.y"}}, 422, "scheme", `name="type_mode"`},
		{url.Values{"name": {"ok"}, "scheme": {"none"}, "type_mode": {"fixed"}, "type": {"Not A Type!"}}, 422, "type", `id="type_from"`},
		{url.Values{"name": {"ok"}, "scheme": {"none"}, "type_mode": {"from"}, "type_from": {"query:x"}}, 422, "type_from", `id="type_prefix"`},
		{url.Values{"name": {"ok"}, "scheme": {"hmac"}, "type_mode": {"fixed"}, "type": {"x.y"}}, 422, "header", `id="algorithm"`},
		{url.Values{"name": {"ok"}, "scheme": {"none"}, "type_mode": {"fixed"}, "type": {"x.y"}, "description": {strings.Repeat("d", 300)}}, 422, "description", `id="scheme"`},
	} {
		a := b.createSource(c.form)
		require.Equal(t, c.status, a.status, "%v: %s", c.form, a.body)
		fieldAt := strings.Index(a.body, `id="`+c.field+`"`)
		errAt := strings.Index(a.body, `id="`+c.field+`-error"`)
		require.Positive(t, fieldAt, c.field)
		require.Greater(t, errAt, fieldAt, "the error follows the field %s", c.field)
		require.Less(t, errAt, strings.Index(a.body, c.next), "and comes before the next one")
		require.Regexp(t, `id="`+c.field+`"[^>]*aria-invalid="true"`, a.body)
		require.Equal(t, 1, strings.Count(a.body, `class="field-error"`), "one error for %s", c.field)
		require.Contains(t, a.body, `value="`+html.EscapeString(c.form.Get("name"))+`"`, "what was typed stays")
	}
	status, _ := api(t, n.base, http.MethodGet, "/v1/sources/ok", adminSecret, nil)
	require.Equal(t, http.StatusNotFound, status, "nothing was created")
}

func TestAPublisherAddsSourcesOfItsTypesOnly(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(ordersSecret).status)
	a := b.get("/ui/sources")
	require.Contains(t, a.body, `href="/ui/sources/new"`)

	add := func(name, typ string) answer {
		return b.post("/ui/sources/new", url.Values{"csrf": {b.csrf("/ui/sources")}, "name": {name}, "scheme": {"none"}, "type_mode": {"fixed"}, "type": {typ}})
	}
	a = add("pay", "payment.settled")
	require.Equal(t, http.StatusForbidden, a.status)
	require.Contains(t, a.body, `id="type-error"`)
	a = b.post("/ui/sources/new", url.Values{"csrf": {b.csrf("/ui/sources")}, "name": {"any"}, "scheme": {"none"}, "type_mode": {"from"}, "type_from": {"header:X-Kind"}})
	require.Equal(t, http.StatusForbidden, a.status)
	require.Contains(t, a.body, `id="type_from-error"`)
	status, _ := api(t, n.base, http.MethodGet, "/v1/sources/pay", adminSecret, nil)
	require.Equal(t, http.StatusNotFound, status)

	a = add("mine", "order.returned")
	require.Equal(t, http.StatusSeeOther, a.status, a.body)
	a = b.get("/ui/sources/mine")
	require.Contains(t, a.body, `id="requests-h"`)
	require.NotContains(t, a.body, "Only administrators and those who may publish")
}

func TestAViewerWhoMayNotPublishSeesSourcesButNeitherTheFormNorTheLog(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	status, out := api(t, n.base, http.MethodPost, "/v1/portal/links", adminSecret, map[string]any{"roles": []string{"subscribe:order.*"}})
	require.Equal(t, http.StatusCreated, status, out)
	_, secret, _ := strings.Cut(out["url"].(string), "#link=")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(secret).status)

	a := b.get("/ui/sources")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, `href="/ui/sources/shop"`)
	require.NotContains(t, a.body, `href="/ui/sources/new"`)

	a = b.get("/ui/sources/new")
	require.Equal(t, http.StatusForbidden, a.status)
	require.Contains(t, a.body, "may publish no event type")
	a = b.post("/ui/sources/new", url.Values{"csrf": {b.csrf("/ui/sources")}, "name": {"mine"}, "scheme": {"none"}, "type_mode": {"fixed"}, "type": {"order.x"}})
	require.Equal(t, http.StatusForbidden, a.status)
	status, _ = api(t, n.base, http.MethodGet, "/v1/sources/mine", adminSecret, nil)
	require.Equal(t, http.StatusNotFound, status)

	// A request to shop is in its log, which this viewer does not see.
	resp, err := http.Post(n.base+"/in/shop", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	admin := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, admin.signIn(adminSecret).status)
	weirtest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(admin.get("/ui/sources/shop").body, "pill refused") {
			return errors.New("the request is not in the log yet")
		}
		return nil
	})
	a = b.get("/ui/sources/shop")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, "Only administrators and those who may publish")
	require.NotContains(t, a.body, "pill refused")
	require.NotContains(t, a.body, "<caption class=\"sr-only\">The last", "no request log")
	require.Contains(t, a.body, n.base+"/in/shop", "the URL is shown")

	a = b.get("/ui/sources/nope")
	require.Equal(t, http.StatusNotFound, a.status)
}

func TestAConfigSourceCannotBeDeletedAnAPIOneCan(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)

	a := b.get("/ui/sources/shop")
	require.NotContains(t, a.body, `action="/ui/sources/shop/delete"`)
	require.Contains(t, a.body, "declared in weir.yaml")
	a = b.post("/ui/sources/shop/delete", url.Values{"csrf": {b.csrf("/ui/sources/shop")}, "confirm": {"yes"}})
	require.Equal(t, http.StatusConflict, a.status)
	require.Contains(t, a.body, `id="confirm-error"`)

	status, out := api(t, n.base, http.MethodPost, "/v1/sources", adminSecret, map[string]any{
		"name": "temp", "verify": map[string]any{"scheme": "none"}, "type": "temp.thing"})
	require.Equal(t, http.StatusCreated, status, out)
	a = b.post("/ui/sources/temp/delete", url.Values{"csrf": {b.csrf("/ui/sources/temp")}})
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	require.Contains(t, a.body, "Tick the box")
	a = b.follow(b.post("/ui/sources/temp/delete", url.Values{"csrf": {b.csrf("/ui/sources/temp")}, "confirm": {"yes"}}))
	require.Contains(t, a.body, "Source temp deleted")
	require.NotContains(t, a.body, `href="/ui/sources/temp"`)
	require.Equal(t, http.StatusNotFound, b.get("/ui/sources/temp").status)
}

func TestARefusedRequestsDetailIsEscaped(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	status, out := api(t, n.base, http.MethodPost, "/v1/sources", adminSecret, map[string]any{
		"name": "typed", "verify": map[string]any{"scheme": "none"}, "type_from": "header:X-Type"})
	require.Equal(t, http.StatusCreated, status, out)
	for _, bad := range []string{xssScript, xssImg} {
		req, err := http.NewRequest(http.MethodPost, n.base+"/in/typed", strings.NewReader(`{}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Type", bad)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	}
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)
	weirtest.Eventually(t, 10*time.Second, func() error {
		a := b.get("/ui/sources/typed")
		if strings.Count(a.body, "<code>invalid-type</code>") != 2 {
			return errors.New("the refusals are not listed yet")
		}
		noXSS(t, a.body)
		if !strings.Contains(a.body, "&lt;script&gt;") {
			return errors.New("the detail does not quote the type")
		}
		return nil
	})
}

// signedPost posts a Standard Webhooks request signed with secret and
// returns the status.
func signedPost(t *testing.T, target, secret string) int {
	t.Helper()
	return postSigned(t, target, secret, `{"n":1}`, fmt.Sprint("msg_", time.Now().UnixNano()))
}

func TestRotatingASourceSecret(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)
	a := b.createSource(url.Values{"name": {"pay"}, "scheme": {"standard-webhooks"}, "type_mode": {"fixed"}, "type": {"pay.done"}})
	first := secretRe.FindString(html.UnescapeString(b.follow(a).body))
	require.NotEmpty(t, first)
	target := n.base + "/in/pay"

	rotate := func(keep bool) string {
		form := url.Values{"csrf": {b.csrf("/ui/sources/pay")}}
		if keep {
			form.Set("keep", "yes")
		}
		a := b.follow(b.post("/ui/sources/pay/rotate", form))
		require.Contains(t, a.body, "shown this once")
		s := secretRe.FindString(html.UnescapeString(a.body))
		require.NotEmpty(t, s)
		return s
	}
	second := rotate(true)
	require.NotEqual(t, first, second)
	require.Equal(t, http.StatusAccepted, signedPost(t, target, second))
	require.Equal(t, http.StatusAccepted, signedPost(t, target, first), "the old secret is kept")
	third := rotate(false)
	require.Equal(t, http.StatusAccepted, signedPost(t, target, third))
	require.Equal(t, http.StatusUnauthorized, signedPost(t, target, second), "the old secret is dropped")
	require.Equal(t, http.StatusUnauthorized, signedPost(t, target, first))

	// weir.yaml's sources and unsigned ones have nothing to rotate here.
	require.NotContains(t, b.get("/ui/sources/shop").body, `action="/ui/sources/shop/rotate"`)
	a = b.post("/ui/sources/shop/rotate", url.Values{"csrf": {b.csrf("/ui/sources/shop")}})
	require.Equal(t, http.StatusConflict, a.status)
	require.Contains(t, a.body, `id="rotate-error"`)
	status, out := api(t, n.base, http.MethodPost, "/v1/sources", adminSecret, map[string]any{
		"name": "open", "verify": map[string]any{"scheme": "none"}, "type": "open.thing"})
	require.Equal(t, http.StatusCreated, status, out)
	require.NotContains(t, b.get("/ui/sources/open").body, `action="/ui/sources/open/rotate"`)
	a = b.post("/ui/sources/open/rotate", url.Values{"csrf": {b.csrf("/ui/sources/open")}})
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	require.Contains(t, a.body, "it has no secret to rotate")
}

package portal_test

import (
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// The payloads every page must escape.
const (
	xssScript = `<script>alert(1)</script>`
	xssImg    = `<img src=x onerror=alert(1)>`
)

// receiver is an app that takes push deliveries and answers with body.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []map[string]any
	body string
}

func newReceiver(t *testing.T, body string) *receiver {
	rc := &receiver{body: body}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &ev)
		rc.mu.Lock()
		rc.got = append(rc.got, ev)
		rc.mu.Unlock()
		_, _ = io.WriteString(w, rc.body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) events() []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]any(nil), rc.got...)
}

// createSub sends the new-subscription form.
func (b *browser) createSub(form url.Values) answer {
	b.t.Helper()
	form.Set("csrf", b.csrf("/ui/subscriptions/new"))
	return b.post("/ui/subscriptions/new", form)
}

// action posts a button's form on a subscription's page.
func (b *browser) action(name, what string, form url.Values) answer {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf("/ui/subscriptions/"+name))
	return b.post("/ui/subscriptions/"+name+"/"+what, form)
}

// follow gets the page a 303 points to.
func (b *browser) follow(a answer) answer {
	b.t.Helper()
	require.Equal(b.t, http.StatusSeeOther, a.status, a.body)
	return b.get(a.header.Get("Location"))
}

var secretRe = regexp.MustCompile(`whsec_[A-Za-z0-9+/]{43}=`)

// noXSS checks that neither payload reached the page unescaped.
func noXSS(t *testing.T, body string) {
	t.Helper()
	require.NotContains(t, body, xssScript)
	require.NotContains(t, body, xssImg)
}

func TestCreatingAPushSubscriptionShowsItsSecretOnce(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	rc := newReceiver(t, "ok")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)

	a := b.get("/ui/subscriptions")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, "There is no subscription you can see yet")
	require.Contains(t, a.body, `href="/ui/subscriptions/new"`)

	a = b.createSub(url.Values{"name": {"fulfil"}, "types": {"order.created,\norder.paid\n"}, "mode": {"push"}, "url": {rc.URL + "/hooks"}})
	require.Equal(t, http.StatusSeeOther, a.status, a.body)
	loc := a.header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/ui/subscriptions/fulfil?flash="), loc)

	first := b.get(loc)
	require.Equal(t, http.StatusOK, first.status)
	// html/template writes a "+" of the base64 as &#43;.
	secret := secretRe.FindString(html.UnescapeString(first.body))
	require.NotEmpty(t, secret, "the new secret is shown: %s", first.body)
	require.Contains(t, first.body, "shown this once")
	require.Contains(t, first.body, "whsec_********", "the definition shows it masked")

	again := b.get(loc)
	require.Equal(t, http.StatusOK, again.status)
	require.NotContains(t, html.UnescapeString(again.body), secret, "a reload does not show the secret")
	require.Empty(t, secretRe.FindString(html.UnescapeString(again.body)))

	status, out := api(t, n.base, http.MethodGet, "/v1/subscriptions/fulfil", adminSecret, nil)
	require.Equal(t, http.StatusOK, status)
	spec := out["spec"].(map[string]any)
	require.Equal(t, []any{"order.created", "order.paid"}, spec["types"])

	a = b.get("/ui/subscriptions")
	require.Contains(t, a.body, `href="/ui/subscriptions/fulfil"`)
	require.Contains(t, a.body, "push")
	require.Contains(t, a.body, `class="pill active"`)
	require.Contains(t, a.body, "breaker-closed")
}

func TestARefusedSubscriptionFormShowsTheErrorNextToItsField(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(ordersSecret).status)

	a := b.get("/ui/subscriptions/new")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, `<output id="filter-preview" for="filter" aria-live="polite"></output>`)
	require.Contains(t, a.body, `data-types-field="types"`)

	// A filter that does not compile: the compiler's word, next to the box.
	a = b.createSub(url.Values{"name": {"shipping"}, "types": {"order.created"}, "filter": {"data.total >"}, "mode": {"pull"}})
	require.Equal(t, http.StatusUnprocessableEntity, a.status, a.body)
	filterAt := strings.Index(a.body, `id="filter"`)
	errAt := strings.Index(a.body, `id="filter-error"`)
	require.Positive(t, filterAt)
	require.Greater(t, errAt, filterAt, "the error follows the filter box")
	require.Less(t, errAt, strings.Index(a.body, `id="start"`), "and comes before the next field")
	require.Regexp(t, `id="filter"[^>]*aria-invalid="true"`, a.body)
	require.Contains(t, a.body, `value="shipping"`, "what was typed stays")
	require.Contains(t, a.body, `data.total &gt;</textarea>`)

	// A URL that is not one, and one only an admin may reach.
	for _, u := range []string{"not a url", "http://127.0.0.1:9/hooks"} {
		a = b.createSub(url.Values{"name": {"shipping"}, "types": {"order.created"}, "mode": {"push"}, "url": {u}})
		require.Equal(t, http.StatusUnprocessableEntity, a.status, u)
		require.Regexp(t, `id="url"[^>]*aria-invalid="true"`, a.body, u)
		require.Contains(t, a.body, `id="url-error"`, u)
		require.NotContains(t, a.body, `id="filter-error"`, u)
	}
	require.Contains(t, a.body, "administrator")

	// A filter holding markup is escaped, refused or not.
	bad := `data.x == "` + xssScript + `" ||`
	a = b.createSub(url.Values{"name": {"shipping"}, "types": {"order.created"}, "filter": {bad + xssImg}, "mode": {"pull"}})
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	require.Contains(t, a.body, `id="filter-error"`)
	noXSS(t, a.body)
	good := `data.x == "` + xssScript + `" || data.y == "` + xssImg + `"`
	a = b.createSub(url.Values{"name": {"shipping"}, "types": {"order.created"}, "filter": {good}, "mode": {"pull"}})
	a = b.follow(a)
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	noXSS(t, a.body)

	// The name is taken now.
	a = b.createSub(url.Values{"name": {"shipping"}, "types": {"order.created"}, "mode": {"pull"}})
	require.Equal(t, http.StatusConflict, a.status)
	require.Contains(t, a.body, `id="name-error"`)
}

func TestAScopedTokenCannotCreateOrSeePaymentSubscriptions(t *testing.T) {
	t.Parallel()
	n := startWeir(t, `
subscriptions:
  declared: {types: [order.created], pull: {}}
`)
	status, out := api(t, n.base, http.MethodPost, "/v1/subscriptions", adminSecret, map[string]any{
		"name": "payments", "types": []string{"payment.*"}, "pull": map[string]any{}})
	require.Equal(t, http.StatusCreated, status, out)
	status, out = api(t, n.base, http.MethodPost, "/v1/subscriptions/payments/replay", adminSecret, map[string]any{"from": "1"})
	require.Equal(t, http.StatusAccepted, status, out)
	replayID := out["id"].(string)

	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(ordersSecret).status)
	a := b.get("/ui/subscriptions")
	require.Equal(t, http.StatusOK, a.status)
	require.NotContains(t, a.body, "payments")
	require.Contains(t, a.body, `href="/ui/subscriptions/declared"`)

	require.Equal(t, http.StatusNotFound, b.get("/ui/subscriptions/payments").status)
	require.Equal(t, http.StatusNotFound, b.get("/ui/replays/"+replayID).status)
	require.Equal(t, http.StatusNotFound, b.get("/ui/replays/no-such-replay").status)
	csrf := b.csrf("/ui/subscriptions")
	for _, what := range []string{"pause", "resume", "test", "delete", "replay"} {
		a = b.post("/ui/subscriptions/payments/"+what, url.Values{"csrf": {csrf}, "confirm": {"yes"}, "type": {"payment.made"}, "from_seq": {"1"}})
		require.Equal(t, http.StatusNotFound, a.status, what)
	}
	status, _ = api(t, n.base, http.MethodGet, "/v1/subscriptions/payments", adminSecret, nil)
	require.Equal(t, http.StatusOK, status, "still there")

	a = b.createSub(url.Values{"name": {"spy"}, "types": {"order.created\npayment.*"}, "mode": {"pull"}})
	require.Equal(t, http.StatusForbidden, a.status)
	require.Contains(t, a.body, `id="types-error"`)
	status, _ = api(t, n.base, http.MethodGet, "/v1/subscriptions/spy", adminSecret, nil)
	require.Equal(t, http.StatusNotFound, status, "nothing was created")

	// A subscription of weir.yaml offers no delete, and refuses one.
	a = b.get("/ui/subscriptions/declared")
	require.Equal(t, http.StatusOK, a.status)
	require.NotContains(t, a.body, "/ui/subscriptions/declared/delete")
	a = b.action("declared", "delete", url.Values{"confirm": {"yes"}})
	require.Equal(t, http.StatusConflict, a.status)
	require.Contains(t, a.body, "weir.yaml")
}

func TestPauseResumeTestEventAndDelete(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	rc := newReceiver(t, xssScript+xssImg)
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)
	b.follow(b.createSub(url.Values{"name": {"fulfil"}, "types": {"order.created"}, "mode": {"push"}, "url": {rc.URL}}))

	a := b.follow(b.action("fulfil", "pause", nil))
	require.Contains(t, a.body, "Paused")
	require.Contains(t, a.body, `class="pill disabled"`)
	require.Contains(t, a.body, "paused in the portal by token admin")
	require.Contains(t, a.body, "/ui/subscriptions/fulfil/resume")
	_, out := api(t, n.base, http.MethodGet, "/v1/subscriptions/fulfil", adminSecret, nil)
	require.Equal(t, "disabled", out["state"])

	a = b.follow(b.action("fulfil", "resume", nil))
	require.Contains(t, a.body, `class="pill active"`)
	_, out = api(t, n.base, http.MethodGet, "/v1/subscriptions/fulfil", adminSecret, nil)
	require.Equal(t, "active", out["state"])

	// The source's type is offered; the test event reaches the app.
	a = b.get("/ui/subscriptions/fulfil")
	require.Contains(t, a.body, `<option>order.created</option>`)
	a = b.follow(b.action("fulfil", "test", url.Values{"type": {"order.created"}}))
	require.Contains(t, a.body, "Test event")
	weirtest.Eventually(t, 20*time.Second, func() error {
		if len(rc.events()) == 0 {
			return errors.New("no delivery yet")
		}
		return nil
	})
	ev := rc.events()[0]
	require.Equal(t, "/weir/portal", ev["source"])
	require.Equal(t, map[string]any{"test": true}, ev["data"])
	weirtest.Eventually(t, 20*time.Second, func() error {
		a = b.get("/ui/subscriptions/fulfil")
		if !strings.Contains(a.body, "<details>") || !strings.Contains(a.body, ev["id"].(string)) {
			return errors.New("no attempt shown yet")
		}
		return nil
	})
	require.Contains(t, a.body, `class="pill delivered"`)
	require.Contains(t, a.body, "HTTP 200")
	require.Contains(t, a.body, "&lt;script&gt;alert(1)&lt;/script&gt;", "the response excerpt is shown, escaped")
	noXSS(t, a.body)

	// A type the subscription does not match is refused next to the box.
	a = b.action("fulfil", "test", url.Values{"type": {"payment.made"}})
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	require.Contains(t, a.body, `id="test-error"`)

	// Delete needs the box ticked.
	a = b.action("fulfil", "delete", nil)
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	require.Contains(t, a.body, `id="confirm-error"`)
	a = b.action("fulfil", "delete", url.Values{"confirm": {"yes"}})
	require.Equal(t, http.StatusSeeOther, a.status)
	require.True(t, strings.HasPrefix(a.header.Get("Location"), "/ui/subscriptions?flash="))
	require.Contains(t, b.get(a.header.Get("Location")).body, "Subscription fulfil deleted.")
	require.Equal(t, http.StatusNotFound, b.get("/ui/subscriptions/fulfil").status)
}

func TestATestEventOfAWildcardSubscriptionIsTyped(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)
	b.follow(b.createSub(url.Values{"name": {"things"}, "types": {"thing.>"}, "mode": {"pull"}}))

	a := b.get("/ui/subscriptions/things")
	require.Regexp(t, `<input id="test-type" name="type" type="text"`, a.body)
	require.Contains(t, a.body, "type one that matches thing.&gt;")
	a = b.action("things", "test", url.Values{"type": {"other.thing"}})
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	require.Contains(t, a.body, "does not match")
	require.Contains(t, a.body, `value="other.thing"`)
	a = b.follow(b.action("things", "test", url.Values{"type": {"thing.happened"}}))
	require.Contains(t, a.body, "of type thing.happened published")
	_, out := api(t, n.base, http.MethodGet, "/v1/subscriptions/things", adminSecret, nil)
	require.EqualValues(t, 1, out["lag"])
}

func TestAReplayOfARangeFinishesAndItsPageShowsDone(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(ordersSecret).status)
	b.follow(b.createSub(url.Values{"name": {"history"}, "types": {"order.created"}, "mode": {"pull"}}))
	for range 2 {
		b.follow(b.action("history", "test", url.Values{"type": {"order.created"}}))
	}

	// Refused ranges name their field.
	a := b.action("history", "replay", url.Values{})
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	require.Contains(t, a.body, `id="replay-from-error"`)
	a = b.action("history", "replay", url.Values{"from": {"2026-01-01T00:00"}, "from_seq": {"1"}})
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	require.Contains(t, a.body, `id="replay-from-seq-error"`)
	a = b.action("history", "replay", url.Values{"from": {"yesterday"}})
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	require.Contains(t, a.body, `id="replay-from-error"`)
	require.Contains(t, a.body, `value="yesterday"`)

	for _, form := range []url.Values{
		{"from_seq": {"1"}},
		{"from": {time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")}},
	} {
		a = b.action("history", "replay", form)
		require.Equal(t, http.StatusSeeOther, a.status, a.body)
		loc := a.header.Get("Location")
		require.True(t, strings.HasPrefix(loc, "/ui/replays/"), loc)
		weirtest.Eventually(t, 20*time.Second, func() error {
			a = b.get(loc)
			if !strings.Contains(a.body, "replay-done") {
				return errors.New("not done yet")
			}
			return nil
		})
		require.Equal(t, http.StatusOK, a.status)
		require.Contains(t, a.body, "2 events delivered again")
		require.NotContains(t, a.body, `http-equiv="refresh"`, "a finished replay's page stays still")
	}

	// A slow replay (one event a second, started through the API by an
	// admin) is visible to the subscription's owner; its page refreshes
	// itself while it runs, and cancelling it stops that.
	for range 3 {
		b.follow(b.action("history", "test", url.Values{"type": {"order.created"}}))
	}
	status, out := api(t, n.base, http.MethodPost, "/v1/subscriptions/history/replay", adminSecret, map[string]any{"from": "1", "rate": 1})
	require.Equal(t, http.StatusAccepted, status, out)
	loc := "/ui/replays/" + out["id"].(string)
	a = b.get(loc)
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, `<meta http-equiv="refresh" content="2">`)
	require.Contains(t, a.body, "replay-running")
	a = b.post(loc+"/cancel", url.Values{"csrf": {b.csrf(loc)}})
	require.Equal(t, http.StatusSeeOther, a.status)
	weirtest.Eventually(t, 20*time.Second, func() error {
		a = b.get(loc)
		if !strings.Contains(a.body, "replay-cancelled") {
			return errors.New("not cancelled yet")
		}
		return nil
	})
	require.NotContains(t, a.body, `http-equiv="refresh"`)
}

package portal_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTailPageChecksThePatternsWithoutJavaScript(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(ordersSecret).status)

	a := b.get("/ui/tail?types=order.*")
	require.Equal(t, http.StatusOK, a.status)
	has(t, a.body, `<label for="types">Event types</label>`)
	has(t, a.body, `value="order.*"`)
	has(t, a.body, `data-stream="/ui/tail/stream?types=order.%2A"`)
	has(t, a.body, `<script src="/ui/static/tail.js"></script>`)
	has(t, a.body, `<noscript>`)
	has(t, a.body, `The live tail needs JavaScript`)
	has(t, a.body, `<a href="/v1/events/stream?types=order.%2A">`, "a link to the API route")
	hasNot(t, a.body, `aria-invalid="true"`)

	a = b.get("/ui/tail?types=order.*,payment.*")
	require.Equal(t, http.StatusForbidden, a.status, "the stream's status, on the page")
	has(t, a.body, `aria-invalid="true"`)
	has(t, a.body, `<p class="field-error" id="types-error" role="alert">token &#34;orders-app&#34; may not read payment.*`)
	hasNot(t, a.body, `data-stream=`, "nothing to follow")

	a = b.get("/ui/tail?types=order..created")
	require.Equal(t, http.StatusBadRequest, a.status)
	has(t, a.body, `aria-invalid="true"`)
	hasNot(t, a.body, `data-stream=`)

	a = b.get("/ui/tail?types=" + strings.Repeat("order.a,", 21))
	require.Equal(t, http.StatusBadRequest, a.status, "more patterns than a tail may follow")

	a = b.get("/ui/tail")
	require.Equal(t, http.StatusOK, a.status)
	has(t, a.body, "Type one or more event type patterns")
	hasNot(t, a.body, `data-stream=`)

	// The pattern box echoes what was typed, escaped.
	a = b.get("/ui/tail?types=%3Cscript%3Ealert(1)%3C/script%3E")
	require.Equal(t, http.StatusBadRequest, a.status)
	hasNot(t, a.body, "<script>alert(1)</script>")
}

// sse is a live tail as the page's EventSource reads it.
type sse struct {
	resp *http.Response
	rd   *bufio.Reader
}

// openStream opens /ui/tail/stream?q with the browser's cookies; it ends
// with ctx.
func openStream(t *testing.T, ctx context.Context, b *browser, q string, header http.Header) *sse {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/ui/tail/stream?"+q, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return &sse{resp: resp, rd: bufio.NewReader(resp.Body)}
}

// next reads the next event: its id and data (comments are skipped).
func (s *sse) next(t *testing.T) (id string, data map[string]any) {
	t.Helper()
	var raw strings.Builder
	for {
		line, err := s.rd.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && raw.Len() > 0:
			require.NoError(t, json.Unmarshal([]byte(raw.String()), &data), raw.String())
			return id, data
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			raw.WriteString(strings.TrimPrefix(line, "data: ") + "\n")
		}
	}
}

// problemOf reads a refused stream's problem.
func problemOf(t *testing.T, s *sse) map[string]any {
	t.Helper()
	require.Equal(t, "application/problem+json", s.resp.Header.Get("Content-Type"))
	var p map[string]any
	require.NoError(t, json.NewDecoder(s.rd).Decode(&p))
	return p
}

func TestTailStreamFollowsAsTheSessionsToken(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(ordersSecret).status)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	s := openStream(t, ctx, b, "types=order.*", nil)
	require.Equal(t, http.StatusOK, s.resp.StatusCode)
	require.Equal(t, "text/event-stream", s.resp.Header.Get("Content-Type"))
	// The tail is open once the answer started: what is sent now reaches it.
	sendEvent(t, n.base, adminSecret, "p-1", "payment.captured", "/apps/billing", `{"amount":1}`)
	sendEvent(t, n.base, adminSecret, "o-1", "order.created", "/apps/shop", `{"note":"<script>alert(1)</script>"}`)
	id, ev := s.next(t)
	require.Equal(t, "o-1", ev["id"], "payment.captured is not order.*")
	require.Equal(t, "order.created", ev["type"])
	require.Equal(t, "<script>alert(1)</script>", ev["data"].(map[string]any)["note"], "data reaches the script as JSON; tail.js shows it as text")

	// A reconnecting EventSource resumes after its Last-Event-ID.
	seq := strings.TrimSpace(id)
	require.NotEmpty(t, seq)
	sendEvent(t, n.base, adminSecret, "o-2", "order.created", "/apps/shop", `{}`)
	again := openStream(t, ctx, b, "types=order.*", http.Header{"Last-Event-ID": {seq}})
	require.Equal(t, http.StatusOK, again.resp.StatusCode)
	_, ev = again.next(t)
	require.Equal(t, "o-2", ev["id"], "the event after the last one seen")

	// Refusals answer as GET /v1/events/stream does.
	refused := openStream(t, ctx, b, "types=payment.*", nil)
	require.Equal(t, http.StatusForbidden, refused.resp.StatusCode)
	p := problemOf(t, refused)
	require.Equal(t, "types", p["field"])
	require.Contains(t, p["detail"], "payment.*")

	bad := openStream(t, ctx, b, "types=order..x", nil)
	require.Equal(t, http.StatusBadRequest, bad.resp.StatusCode)
	require.Equal(t, "types", problemOf(t, bad)["field"])

	badSince := openStream(t, ctx, b, "types=order.*&since=x", nil)
	require.Equal(t, http.StatusBadRequest, badSince.resp.StatusCode)
	require.Equal(t, "since", problemOf(t, badSince)["field"])

	// Two are open; the token's cap is four.
	for range 2 {
		more := openStream(t, ctx, b, "types=order.*", nil)
		require.Equal(t, http.StatusOK, more.resp.StatusCode)
	}
	full := openStream(t, ctx, b, "types=order.*", nil)
	require.Equal(t, http.StatusTooManyRequests, full.resp.StatusCode)
	require.Equal(t, "10", full.resp.Header.Get("Retry-After"))
	require.Equal(t, "too-many-tails", strings.TrimPrefix(problemOf(t, full)["type"].(string), "https://weir.dev/problems/"))

	// Without a session the stream answers 401, not the sign-in page.
	stranger := openStream(t, ctx, newBrowser(t, n.base), "types=order.*", nil)
	require.Equal(t, http.StatusUnauthorized, stranger.resp.StatusCode)
}

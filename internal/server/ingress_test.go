package server

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/verify"
)

func TestIngressStoresACloudEvent(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))

	req := signedRequest(t, b.base, "shop", shopScheme, []byte(`{"order":42,"total":99.5}`), "msg_1", time.Now())
	req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	r := do(t, req)
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	require.Equal(t, "accepted", r.body["status"])
	id, _ := r.body["id"].(string)
	require.NotEmpty(t, id)

	evs := storedEvents(t, b.srv.Bus().JetStream(), "events.order.created")
	require.Len(t, evs, 1)
	ev := evs[0]
	require.Equal(t, id, ev["id"])
	require.Equal(t, "1.0", ev["specversion"])
	require.Equal(t, "/sources/shop", ev["source"])
	require.Equal(t, "order.created", ev["type"])
	require.Equal(t, "application/json", ev["datacontenttype"])
	require.Equal(t, "msg_1", ev["deliveryid"])
	require.Equal(t, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", ev["traceparent"])
	require.Equal(t, map[string]any{"order": 42.0, "total": 99.5}, ev["data"])
	_, err := time.Parse(time.RFC3339Nano, ev["time"].(string))
	require.NoError(t, err)
}

func TestIngressTypeFromHeaderAndJSON(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))

	gh := verify.Config{Scheme: "github", Secrets: []string{"gh-secret"}}
	req := signedRequest(t, b.base, "gh", gh, []byte(`{"ref":"main"}`), "d-1", time.Now())
	req.Header.Set("X-GitHub-Event", "push")
	r := do(t, req)
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	require.Len(t, storedEvents(t, b.srv.Bus().JetStream(), "events.github.push"), 1)

	req = signedRequest(t, b.base, "gh", gh, []byte(`{"ref":"main"}`), "d-2", time.Now())
	r = do(t, req)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "X-Github-Event", r.body["field"])

	post := func(body string) response {
		req, _ := http.NewRequest(http.MethodPost, b.base+"/in/open", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return do(t, req)
	}
	r = post(`{"kind":"invoice.paid","ref":7}`)
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	first := r.body["id"]
	r = post(`{"kind":"invoice.paid","ref":7}`)
	require.Equal(t, http.StatusOK, r.status, "same idempotency key (json:/ref) is a duplicate")
	require.Equal(t, first, r.body["id"])
	r = post(`{"kind":"bad type!"}`)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "/kind", r.body["field"])
	require.Contains(t, r.body["detail"], "not a valid event type")
}

func TestIngressRefusesBadInput(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	body := []byte(`{"order":1}`)
	now := time.Now()

	wrongSecret := verify.Config{Scheme: "standard-webhooks", Secrets: []string{"whsec_" + "c2VjcmV0LXRoYXQtaXMtd3Jvbmc="}}
	tampered := signedRequest(t, b.base, "shop", shopScheme, body, "m1", now)
	tampered.Body = http.NoBody
	tampered.Body = ioNop(`{"order":2}`)
	tampered.ContentLength = int64(len(`{"order":2}`))

	cases := []struct {
		name   string
		req    *http.Request
		status int
		field  string
		kind   string
	}{
		{"wrong secret", signedRequest(t, b.base, "shop", wrongSecret, body, "m1", now), 401, "webhook-signature", "signature-invalid"},
		{"tampered body", tampered, 401, "", "signature-invalid"},
		{"expired timestamp", signedRequest(t, b.base, "shop", shopScheme, body, "m1", now.Add(-10*time.Minute)), 401, "", "signature-invalid"},
		{"future timestamp", signedRequest(t, b.base, "shop", shopScheme, body, "m1", now.Add(10*time.Minute)), 401, "", "signature-invalid"},
		{"no signature", rawRequest(t, b.base+"/in/shop", "application/json", string(body)), 401, "webhook-signature", "signature-invalid"},
		{"malformed JSON", signedRequest(t, b.base, "shop", shopScheme, []byte(`{"order":`), "m2", now), 400, "body", "malformed-json"},
		{"unknown source", rawRequest(t, b.base+"/in/nope", "application/json", "{}"), 404, "source", "unknown-source"},
		{"too large", rawRequest(t, b.base+"/in/small", "application/json", `{"pad":"`+strings.Repeat("x", 100)+`"}`), 413, "body", "body-too-large"},
		{"not JSON", rawRequest(t, b.base+"/in/small", "text/plain", "hello"), 415, "Content-Type", "unsupported-media-type"},
	}
	for _, c := range cases {
		r := do(t, c.req)
		require.Equal(t, c.status, r.status, "%s: %s", c.name, r.raw)
		require.Equal(t, "application/problem+json", r.header.Get("Content-Type"), c.name)
		require.Equal(t, "https://weir.dev/problems/"+c.kind, r.body["type"], c.name)
		require.EqualValues(t, c.status, r.body["status"], c.name)
		require.NotEmpty(t, r.body["detail"], c.name)
		if c.field != "" {
			require.Equal(t, c.field, r.body["field"], c.name)
		}
	}
	require.Empty(t, storedEvents(t, b.srv.Bus().JetStream(), "events.>"), "nothing refused is stored")

	// A refused signature leaves no de-duplication record: the genuine request
	// with the same id still goes through.
	r := do(t, signedRequest(t, b.base, "shop", shopScheme, body, "m1", now))
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
}

func TestDuplicateRaceStoresOneEvent(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	const n = 24
	body := []byte(`{"order":7}`)
	at := time.Now()
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = signedRequest(t, b.base, "shop", shopScheme, body, "msg_race", at)
	}
	var wg sync.WaitGroup
	results := make([]response, n)
	startLine := make(chan struct{})
	for i := range reqs {
		wg.Go(func() {
			<-startLine
			results[i] = do(t, reqs[i])
		})
	}
	close(startLine)
	wg.Wait()

	accepted, ids := 0, map[any]bool{}
	for _, r := range results {
		switch r.status {
		case http.StatusAccepted:
			accepted++
		case http.StatusOK:
			require.Equal(t, "duplicate", r.body["status"])
		default:
			t.Fatalf("unexpected answer %d %s", r.status, r.raw)
		}
		ids[r.body["id"]] = true
	}
	require.Equal(t, 1, accepted, "exactly one request is accepted")
	require.Len(t, ids, 1, "every answer names the first event's id")
	require.Len(t, storedEvents(t, b.srv.Bus().JetStream(), "events.>"), 1)

	// Later, outside the stream's own window check, the record still answers.
	r := b.sendShop(t, `{"order":7}`, "msg_race")
	require.Equal(t, http.StatusOK, r.status)
	require.True(t, ids[r.body["id"]])
}

func TestSecretRotation(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	src := cfg.Sources["shop"]
	src.Verify.Secrets = []string{"whsec_bmV3LXNlY3JldC1mb3Itcm90YXRpb24=", shopSecret}
	cfg.Sources["shop"] = src
	b := start(t, cfg)
	r := b.sendShop(t, `{"a":1}`, "old-secret")
	require.Equal(t, http.StatusAccepted, r.status, "the old secret still verifies during rotation")
	newScheme := verify.Config{Scheme: "standard-webhooks", Secrets: []string{"whsec_bmV3LXNlY3JldC1mb3Itcm90YXRpb24="}}
	r = do(t, signedRequest(t, b.base, "shop", newScheme, []byte(`{"a":1}`), "new-secret", time.Now()))
	require.Equal(t, http.StatusAccepted, r.status, "and so does the new one")
}

func TestRestartKeepsAckedEvents(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	b := start(t, cfg)
	ids := map[string]bool{}
	for i := range 40 {
		r := b.sendShop(t, fmt.Sprintf(`{"n":%d}`, i), fmt.Sprintf("msg_%d", i))
		require.Equal(t, http.StatusAccepted, r.status)
		ids[r.body["id"].(string)] = true
	}
	require.NoError(t, b.srv.Stop(t.Context()))

	b2 := start(t, cfg)
	evs := storedEvents(t, b2.srv.Bus().JetStream(), "events.>")
	require.Len(t, evs, 40)
	for _, ev := range evs {
		require.True(t, ids[ev["id"].(string)])
	}
	r := b2.sendShop(t, `{"n":3}`, "msg_3")
	require.Equal(t, http.StatusOK, r.status, "de-duplication survives a restart")
}

func rawRequest(t *testing.T, url, ctype, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req
}

func ioNop(s string) *nopCloser { return &nopCloser{bytes.NewReader([]byte(s))} }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	src := cfg.Sources["open"]
	src.RateLimit = &config.RateLimit{PerSecond: 0.5, Burst: 2}
	cfg.Sources["open"] = src
	b := start(t, cfg)
	post := func(ref int) response {
		return do(t, rawRequest(t, b.base+"/in/open", "application/json", fmt.Sprintf(`{"kind":"a.b","ref":%d}`, ref)))
	}
	require.Equal(t, http.StatusAccepted, post(1).status)
	require.Equal(t, http.StatusAccepted, post(2).status, "the burst is allowed")
	r := post(3)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "https://weir.dev/problems/rate-limited", r.body["type"])
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, secs, 1)
	require.LessOrEqual(t, secs, 2, "the next token comes within 2s at 0.5/s")
	require.Len(t, storedEvents(t, b.srv.Bus().JetStream(), "events.>"), 2, "a refused request stores nothing")
	require.Equal(t, http.StatusAccepted, b.sendShop(t, `{"a":1}`, "other-source").status, "other sources are not limited")
}

func TestProfilesNeedAnAdminToken(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	require.Equal(t, http.StatusUnauthorized, do(t, mustGet(t, b.base+"/debug/pprof/")).status)
	require.Equal(t, http.StatusForbidden, do(t, apiRequest(t, "GET", b.base+"/debug/pprof/", pubSecret, "", "")).status)
	r := do(t, apiRequest(t, "GET", b.base+"/debug/pprof/goroutine?debug=1", adminSecret, "", ""))
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.raw), "goroutine profile")
}

package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/verify"
)

// answer is a decoded reply of the webhook handler.
type answer struct {
	status int
	ctype  string
	body   map[string]any
}

// post sends body to /in/{source} with headers h.
func post(t *testing.T, wh *Webhooks, source string, h http.Header, body []byte) answer {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/in/"+source, bytes.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetPathValue("source", source)
	rec := httptest.NewRecorder()
	wh.ServeHTTP(rec, req)
	a := answer{status: rec.Code, ctype: rec.Header().Get("Content-Type")}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &a.body), "%s", rec.Body)
	return a
}

// stored counts the events on the bus.
func stored(t *testing.T, b *bus.Bus) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := b.Events().Info(ctx)
	require.NoError(t, err)
	return info.State.Msgs
}

// TestWebhookRefusesBodiesThatAreNotIJSON: invalid UTF-8 (which json.Valid
// lets through), a repeated member name (of which the contract check and
// type_from would see the last copy while both are stored) and a number
// beyond a float64 are refused with 400 before anything is stored.
func TestWebhookRefusesBodiesThatAreNotIJSON(t *testing.T) {
	t.Parallel()
	wh, b := setupSources(t, map[string]config.Source{"open": {
		Verify:   config.Verify{Scheme: "none"},
		TypeFrom: "json:/type",
	}})
	cases := []struct {
		name, body, kind, field, detail string
	}{
		{"invalid UTF-8", "{\"type\":\"a.b\",\"s\":\"\xff\"}", "malformed-json", "body", "invalid UTF-8 at byte 19"},
		{"repeated name", `{"type":"dup.a","type":"dup.b"}`, "duplicate-key", "/type", `"/type" (byte 16)`},
		{"repeated nested name", `{"type":"a.b","x":{"id":1,"id":2}}`, "duplicate-key", "/x/id", "appears more than once"},
		{"huge number", `{"type":"a.b","n":1e999999}`, "number-out-of-range", "/n", "beyond the range of a 64-bit float"},
	}
	for _, c := range cases {
		a := post(t, wh, "open", nil, []byte(c.body))
		require.Equal(t, http.StatusBadRequest, a.status, "%s: %v", c.name, a.body)
		require.Equal(t, "application/problem+json", a.ctype, c.name)
		require.Equal(t, "https://weir.dev/problems/"+c.kind, a.body["type"], c.name)
		require.Equal(t, c.field, a.body["field"], c.name)
		require.Contains(t, a.body["detail"], c.detail, c.name)
	}
	require.Zero(t, stored(t, b), "nothing refused is stored")

	a := post(t, wh, "open", nil, []byte(`{"type":"a.b","n":1e308,"x":[{"id":1},{"id":2}]}`))
	require.Equal(t, http.StatusAccepted, a.status, "%v", a.body)
}

// TestDedupeOnBody: GitHub does not sign X-GitHub-Delivery, so a replayed
// body under a new delivery id is a new event, unless the source
// de-duplicates on the signed body.
func TestDedupeOnBody(t *testing.T) {
	t.Parallel()
	gh := func(onBody bool) config.Source {
		return config.Source{
			Verify:       config.Verify{Scheme: "github", Secrets: []string{"gh-secret"}},
			TypeFrom:     "header:X-GitHub-Event",
			DedupeOnBody: onBody,
		}
	}
	wh, b := setupSources(t, map[string]config.Source{"plain": gh(false), "strict": gh(true)})
	sc := verify.Config{Scheme: "github", Secrets: []string{"gh-secret"}}
	body := []byte(`{"ref":"main","after":"9fceb02"}`)
	send := func(source, delivery string, body []byte) answer {
		h, err := verify.Sign(sc, body, time.Now(), delivery)
		require.NoError(t, err)
		h.Set("X-GitHub-Event", "push")
		return post(t, wh, source, h, body)
	}

	first := send("strict", "d-1", body)
	require.Equal(t, http.StatusAccepted, first.status, "%v", first.body)
	replay := send("strict", "d-2", body)
	require.Equal(t, http.StatusOK, replay.status, "the same signed body under another delivery id is a duplicate: %v", replay.body)
	require.Equal(t, "duplicate", replay.body["status"])
	require.Equal(t, first.body["id"], replay.body["id"])
	other := send("strict", "d-3", []byte(`{"ref":"main","after":"1a2b3c4"}`))
	require.Equal(t, http.StatusAccepted, other.status, "another body is another event")

	// Without the option, the delivery id decides: the replay is stored.
	require.Equal(t, http.StatusAccepted, send("plain", "d-1", body).status)
	require.Equal(t, http.StatusAccepted, send("plain", "d-2", body).status)
	require.Equal(t, http.StatusOK, send("plain", "d-2", body).status)
	require.EqualValues(t, 4, stored(t, b))
}

// TestSvixSignedReplayIsADuplicate: a Standard Webhooks source also takes
// Svix's header names. The signature then covers svix-id, so that is the
// delivery id: a replay within the tolerance that adds a webhook-id header
// of its own is still the same delivery.
func TestSvixSignedReplayIsADuplicate(t *testing.T) {
	t.Parallel()
	wh, b := setup(t)
	sc := verify.Config{Scheme: "standard-webhooks", Secrets: []string{benchSecret}}
	body := []byte(`{"order":1}`)
	signed, err := verify.Sign(sc, body, time.Now(), "msg_svix_1")
	require.NoError(t, err)
	svix := http.Header{}
	for _, name := range []string{"id", "timestamp", "signature"} {
		svix.Set("Svix-"+name, signed.Get("Webhook-"+name))
	}
	first := post(t, wh, "shop", svix, body)
	require.Equal(t, http.StatusAccepted, first.status, "%v", first.body)

	replay := svix.Clone()
	replay.Set("Webhook-Id", "msg_made_up")
	again := post(t, wh, "shop", replay, body)
	require.Equal(t, http.StatusOK, again.status, "the signed svix-id decides, not an added webhook-id: %v", again.body)
	require.Equal(t, first.body["id"], again.body["id"])
	require.EqualValues(t, 1, stored(t, b))
}

package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/ingress"
	"github.com/weir-dev/weir/internal/verify"
	"github.com/weir-dev/weir/internal/weirtest"
)

// admin sends an API request with the admin token.
func (b *bundle) admin(t *testing.T, method, path, body string) response {
	t.Helper()
	return do(t, apiRequest(t, method, b.base+path, adminSecret, "application/json", body))
}

const billingSpec = `{"name":"billing","type":"invoice.paid","verify":{"scheme":"standard-webhooks"}}`

func TestSourceCreatedThroughAPITakesWebhooksAtOnceAndAfterARestart(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	b := start(t, cfg)

	r := b.admin(t, "POST", "/v1/sources", billingSpec)
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	secret, _ := r.body["secret"].(string)
	require.True(t, strings.HasPrefix(secret, "whsec_"), "weir generates the secret and shows it: %s", r.raw)
	require.Equal(t, b.base+"/in/billing", r.body["url"])
	require.Equal(t, "api", r.body["owner"])
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))

	scheme := verify.Config{Scheme: "standard-webhooks", Secrets: []string{secret}}
	send := func(b *bundle, id string) response {
		return do(t, signedRequest(t, b.base, "billing", scheme, []byte(`{"total":3}`), id, time.Now()))
	}
	require.Equal(t, http.StatusAccepted, send(b, "inv_1").status, "taken without a restart")

	// The secret is never shown again, by any route.
	for _, path := range []string{"/v1/sources", "/v1/sources/billing"} {
		r := b.admin(t, "GET", path, "")
		require.Equal(t, http.StatusOK, r.status)
		require.NotContains(t, string(r.raw), secret, path)
		require.NotContains(t, string(r.raw), shopSecret, path)
		require.NotContains(t, string(r.raw), `"secret`, path)
	}
	list := b.admin(t, "GET", "/v1/sources", "")
	owners := map[string]string{}
	for _, s := range list.body["sources"].([]any) {
		m := s.(map[string]any)
		owners[m["name"].(string)] = m["owner"].(string)
	}
	require.Equal(t, map[string]string{"billing": "api", "shop": "config", "gh": "config", "small": "config", "open": "config"}, owners)

	doc := b.admin(t, "GET", "/v1/asyncapi", "")
	require.Equal(t, http.StatusOK, doc.status)
	require.Contains(t, string(doc.raw), "/in/billing", "the catalog lists API sources too")

	require.NoError(t, b.srv.Stop(t.Context()))
	b2 := start(t, cfg)
	require.Equal(t, http.StatusAccepted, send(b2, "inv_2").status, "still taken after a restart")
	require.Equal(t, http.StatusOK, send(b2, "inv_1").status, "and de-duplicated as before")

	// Replacing keeps the secret while the scheme stays; deleting stops it.
	r = b2.admin(t, "PUT", "/v1/sources/billing", `{"type":"invoice.settled","verify":{"scheme":"standard-webhooks"}}`)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.NotContains(t, r.body, "secret")
	require.Equal(t, http.StatusAccepted, send(b2, "inv_3").status)
	evs := storedEvents(t, b2.srv.Bus().JetStream(), "events.invoice.settled")
	require.Len(t, evs, 1, "the replaced type is in force")
	require.Equal(t, http.StatusNoContent, b2.admin(t, "DELETE", "/v1/sources/billing", "").status)
	require.Equal(t, http.StatusNotFound, send(b2, "inv_4").status)
	require.Equal(t, http.StatusNotFound, b2.admin(t, "GET", "/v1/sources/billing", "").status)
}

func TestConfigSourcesAreReadOnlyThroughAPI(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/v1/sources/shop", `{"type":"a.b","verify":{"scheme":"none"}}`},
		{"DELETE", "/v1/sources/shop", ""},
		{"POST", "/v1/sources", `{"name":"shop","type":"a.b","verify":{"scheme":"none"}}`},
	} {
		r := b.admin(t, c.method, c.path, c.body)
		require.Equal(t, http.StatusConflict, r.status, string(r.raw))
		require.Equal(t, "https://weir.dev/problems/declared-in-config", r.body["type"])
		require.Equal(t, "name", r.body["field"])
	}
	require.Equal(t, http.StatusAccepted, b.sendShop(t, `{}`, "msg_1").status, "still served")

	// Any token reads sources; only admins and publishers of a source's
	// one fixed type change them (TestAPublisherManagesSourcesOfItsOwnTypes).
	r := do(t, apiRequest(t, "GET", b.base+"/v1/sources/shop", pubSecret, "", ""))
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "config", r.body["owner"])
	require.Equal(t, "standard-webhooks", r.body["verify"].(map[string]any)["scheme"])
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1/sources"}, {"PUT", "/v1/sources/gh"}, {"DELETE", "/v1/sources/gh"}, {"GET", "/v1/sources/gh/requests"},
	} {
		r := do(t, apiRequest(t, c.method, b.base+c.path, pubSecret, "application/json", billingSpec))
		require.Equal(t, http.StatusForbidden, r.status, c.method+" "+c.path)
	}
}

func TestSourceValidationNamesTheField(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	for body, want := range map[string]string{
		`{"name":"bad name","type":"a.b","verify":{"scheme":"none"}}`:                 "name",
		`{"type":"a.b","verify":{"scheme":"none"}}`:                                   "name",
		`{"name":"x","type":"a.b","verify":{"scheme":"sha1"}}`:                        "verify.scheme",
		`{"name":"x","verify":{"scheme":"none"}}`:                                     "type",
		`{"name":"x","type_from":"body:/t","verify":{"scheme":"none"}}`:               "type_from",
		`{"name":"x","type":"a.b","verify":{"scheme":"hmac"}}`:                        "verify.header",
		`{"name":"x","type":"a.b","verify":{"scheme":"none","secrets":["s"]}}`:        "verify.secrets",
		`{"name":"x","type":"a.b","max_body":99999999999,"verify":{"scheme":"none"}}`: "max_body",
		`{"name":"x","type":"a.b","verify":{"scheme":"none"},"colour":"red"}`:         "body",
	} {
		r := b.admin(t, "POST", "/v1/sources", body)
		require.Equal(t, http.StatusBadRequest, r.status, body)
		require.Equal(t, want, r.body["field"], "%s: %s", body, r.raw)
	}
	require.Len(t, b.admin(t, "GET", "/v1/sources", "").body["sources"], 4, "nothing was created")
}

func TestSourceRequestLog(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	require.Equal(t, http.StatusAccepted, b.sendShop(t, `{"n":1}`, "msg_1").status)
	require.Equal(t, http.StatusOK, b.sendShop(t, `{"n":1}`, "msg_1").status)
	bad := signedRequest(t, b.base, "shop", verify.Config{Scheme: "standard-webhooks", Secrets: []string{"whsec_d3JvbmcgIHNlY3JldCB3cm9uZyBzZWNyZXQ="}}, []byte(`{}`), "msg_2", time.Now())
	require.Equal(t, http.StatusUnauthorized, do(t, bad).status)

	var recs []any
	weirtest.Eventually(t, 10*time.Second, func() error {
		r := b.admin(t, "GET", "/v1/sources/shop/requests", "")
		if r.status != http.StatusOK {
			return fmt.Errorf("%d %s", r.status, r.raw)
		}
		recs, _ = r.body["requests"].([]any)
		if len(recs) != 3 {
			return fmt.Errorf("%d records: %s", len(recs), r.raw)
		}
		return nil
	})
	newest := recs[0].(map[string]any)
	require.Equal(t, "refused", newest["outcome"], "newest first")
	require.EqualValues(t, 401, newest["status"])
	require.Equal(t, "https://weir.dev/problems/signature-invalid", newest["problem_type"])
	require.NotEmpty(t, newest["detail"])
	require.Equal(t, "duplicate", recs[1].(map[string]any)["outcome"])
	accepted := recs[2].(map[string]any)
	require.Equal(t, "accepted", accepted["outcome"])
	require.EqualValues(t, 202, accepted["status"])
	require.Equal(t, "order.created", accepted["event_type"])
	require.Equal(t, "msg_1", accepted["delivery_id"])
	require.NotEmpty(t, accepted["event_id"])
	require.Contains(t, accepted["remote_addr"], "127.0.0.1")

	// Past the cap the oldest records go: a flood costs a fixed amount.
	for i := range ingress.RequestsPerSource + 10 {
		require.Equal(t, http.StatusUnauthorized, do(t, signedRequest(t, b.base, "shop",
			verify.Config{Scheme: "standard-webhooks", Secrets: []string{"whsec_d3JvbmcgIHNlY3JldCB3cm9uZyBzZWNyZXQ="}}, []byte(`{}`), fmt.Sprint("f", i), time.Now())).status)
	}
	weirtest.Eventually(t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := b.srv.Bus().JetStream().Stream(ctx, ingress.RequestsStream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter("requests.shop"))
		if err != nil {
			return err
		}
		if n := info.State.Subjects["requests.shop"]; n != ingress.RequestsPerSource {
			return fmt.Errorf("%d records kept", n)
		}
		if info.State.LastSeq < uint64(ingress.RequestsPerSource+13) {
			return fmt.Errorf("last sequence %d: not every record is in yet", info.State.LastSeq)
		}
		return nil
	})
	r := b.admin(t, "GET", "/v1/sources/shop/requests?limit=100", "")
	require.Len(t, r.body["requests"], ingress.RequestsPerSource)
	for _, rec := range r.body["requests"].([]any) {
		require.Equal(t, "refused", rec.(map[string]any)["outcome"], "the oldest (accepted, duplicate) went first")
	}
	r = b.admin(t, "GET", "/v1/sources/shop/requests?limit=2", "")
	require.Len(t, r.body["requests"], 2)
	require.Equal(t, http.StatusBadRequest, b.admin(t, "GET", "/v1/sources/shop/requests?limit=101", "").status)
	require.Equal(t, http.StatusNotFound, b.admin(t, "GET", "/v1/sources/nope/requests", "").status)
	r = b.admin(t, "GET", "/v1/sources/gh/requests", "")
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.Equal(t, []any{}, r.body["requests"], "a source without requests has an empty log")
}

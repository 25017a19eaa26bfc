package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/weirtest"
)

// Tokens without admin, for the authorisation tests.
const (
	orderReaderSecret = "test-order-reader-0123456789" // subscribe:order.*
	nobodySecret      = "test-nobody-token-0123456789" // subscribe:nothing.*
)

// authzConfig is testConfig with subs, the tokens above, and allow as delivery.allow.
func authzConfig(t *testing.T, subs map[string]*config.Subscription, allow ...string) *config.Config {
	t.Helper()
	cfg := testConfig(t)
	cfg.Tokens = append(cfg.Tokens,
		config.Token{Name: "order-reader", Secret: orderReaderSecret, Roles: []string{"subscribe:order.*"}},
		config.Token{Name: "nobody", Secret: nobodySecret, Roles: []string{"subscribe:nothing.*"}},
	)
	cfg.Subscriptions = subs
	cfg.Delivery.Allow = allow
	cfg.WithDefaults()
	require.NoError(t, cfg.Validate())
	return cfg
}

// failing is a receiver that answers every delivery 500.
func failing(t *testing.T) *receiver {
	return newReceiver(t, func(int, cloudevents.Event, http.ResponseWriter) int { return http.StatusInternalServerError })
}

// publish stores one event of type typ through POST /v1/events as admin.
func publish(t *testing.T, b *bundle, id, typ string) {
	t.Helper()
	ev := `{"specversion":"1.0","id":"` + id + `","source":"/tests/authz","type":"` + typ + `","data":{"secret":"` + id + `"}}`
	r := do(t, apiRequest(t, "POST", b.base+"/v1/events", adminSecret, "application/cloudevents+json", ev))
	require.Less(t, r.status, 300, string(r.raw))
}

// pushBody is an API subscription body pushing to u with a fast schedule.
func pushBody(name, u string, maxAttempts int, types ...string) string {
	return fmt.Sprintf(`{"name":%q,"types":["%s"],"push":{"url":%q,"secret":%q,"max_attempts":%d,"retry":{"initial":"20ms","max":"100ms"}}}`,
		name, strings.Join(types, `","`), u, subSecret, maxAttempts)
}

// attemptsOf lists a subscription's attempts as tok sees them.
func attemptsOf(t *testing.T, b *bundle, name, tok string) []map[string]any {
	t.Helper()
	r := getJSON2(t, b.base+"/v1/subscriptions/"+name+"/attempts", tok)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	var out []map[string]any
	for _, a := range r.body["attempts"].([]any) {
		out = append(out, a.(map[string]any))
	}
	return out
}

// dlPage is one page of GET /v1/deadletters as tok sees it.
func dlPage(t *testing.T, b *bundle, tok, query string) (ids []string, cursor string) {
	t.Helper()
	r := getJSON2(t, b.base+"/v1/deadletters?"+query, tok)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	for _, d := range r.body["dead_letters"].([]any) {
		ids = append(ids, d.(map[string]any)["id"].(string))
	}
	cursor, _ = r.body["next_cursor"].(string)
	return ids, cursor
}

// Defect 6: a token without admin may not make weir call loopback or private
// addresses and read the answers in /attempts.
func TestUntrustedPushCannotReachPrivateAddresses(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil) // listens on 127.0.0.1
	declared := newReceiver(t, nil)
	cfg := authzConfig(t, map[string]*config.Subscription{"declared": pushSub(declared.srv.URL, "order.created")})
	b := start(t, cfg)
	subs := b.base + "/v1/subscriptions"
	u, err := url.Parse(rc.srv.URL)
	require.NoError(t, err)
	port := u.Port()

	// IP literals are refused when the subscription is saved.
	for _, u := range []string{
		rc.srv.URL, "http://[::ffff:127.0.0.1]:" + port + "/", "http://[::1]:" + port + "/", "http://10.0.0.1/",
		"http://172.16.0.1/", "http://192.168.1.1/", "http://100.64.0.1/", "http://[fc00::1]/", "http://[fd12::1]/",
		"http://169.254.169.254/latest/meta-data/", "http://0.0.0.0:" + port + "/",
	} {
		r := do(t, apiRequest(t, "POST", subs, orderReaderSecret, "application/json", pushBody("peek", u, 2, "order.*")))
		require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s: %s", u, r.raw)
		require.Equal(t, "https://weir.dev/problems/target-denied", r.body["type"], u)
		require.Equal(t, "push.url", r.body["field"], u)
		require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	}

	// A name is checked when dialled: localhost resolves to loopback.
	local := "http://localhost:" + port + "/"
	r := do(t, apiRequest(t, "POST", subs, orderReaderSecret, "application/json", pushBody("peek", local, 2, "order.*")))
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	require.Equal(t, false, r.body["trusted"])
	// An admin token is trusted, as weir.yaml is.
	r = do(t, apiRequest(t, "POST", subs, adminSecret, "application/json", pushBody("ops", rc.srv.URL, 2, "order.*")))
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	require.Equal(t, true, r.body["trusted"])

	deniedTwice := func(id string) func() bool {
		return func() bool {
			n := 0
			for _, a := range attemptsOf(t, b, "peek", orderReaderSecret) {
				if a["event_id"] == id {
					require.Contains(t, []any{"denied", "dead_letter"}, a["outcome"], "%v", a)
					require.NotContains(t, a, "response", "a blocked attempt has no answer to show")
					require.NotContains(t, a, "status")
					require.Contains(t, a["error"], "denied by address policy")
					n++
				}
			}
			return n == 2
		}
	}
	first := b.sendShop(t, `{"n":1}`, "ssrf-1").body["id"].(string)
	weirtest.EventuallyTrue(t, 10*time.Second, deniedTwice(first), "the untrusted subscription's attempts are blocked")
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rc.delivered()) == 1 && len(declared.delivered()) == 1 },
		"the admin's and weir.yaml's subscriptions deliver to loopback")
	require.Equal(t, 1, rc.attempts(), "the untrusted subscription never reached the receiver")

	// Who made each subscription is stored with it: a restart keeps the policy.
	require.NoError(t, b.srv.Stop(context.Background()))
	b = start(t, cfg)
	subs = b.base + "/v1/subscriptions"
	second := b.sendShop(t, `{"n":2}`, "ssrf-2").body["id"].(string)
	weirtest.EventuallyTrue(t, 10*time.Second, deniedTwice(second), "still blocked after a restart")
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rc.delivered()) == 2 && len(declared.delivered()) == 2 },
		"still trusted after a restart")
	require.Equal(t, 2, rc.attempts())

	// An admin replacing the definition makes it trusted; the token's own
	// replacement makes it untrusted again.
	r = do(t, apiRequest(t, "PUT", subs+"/peek", adminSecret, "application/json", pushBody("peek", local, 2, "order.*")))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.Equal(t, true, r.body["trusted"])
	r = do(t, apiRequest(t, "PUT", subs+"/peek", orderReaderSecret, "application/json", pushBody("peek", local, 2, "order.*")))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.Equal(t, false, r.body["trusted"])
}

// Defect 6: delivery.allow opens a range to untrusted subscriptions too.
func TestDeliveryAllowOpensARangeToUntrusted(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	b := start(t, authzConfig(t, nil, "127.0.0.0/8", "::1"))
	r := do(t, apiRequest(t, "POST", b.base+"/v1/subscriptions", orderReaderSecret, "application/json", pushBody("mine", rc.srv.URL, 2, "order.*")))
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	require.Equal(t, false, r.body["trusted"])
	b.sendShop(t, `{"n":1}`, "allowed-1")
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rc.delivered()) == 1 }, "delivered to an allowed loopback address")
	r = do(t, apiRequest(t, "POST", b.base+"/v1/subscriptions", orderReaderSecret, "application/json", pushBody("other", "http://10.1.2.3/", 2, "order.*")))
	require.Equal(t, http.StatusUnprocessableEntity, r.status, "ranges not allowed stay denied")
}

// Defect 7: after inv-push was deleted, a subscribe:order.* token created
// inv-push again and listed, read, redrove and resolved the old invoice.sent
// dead letter.
func TestDeadLettersStayWithTheirSubscription(t *testing.T) {
	t.Parallel()
	rc := failing(t)
	b := start(t, authzConfig(t, nil))
	subs := b.base + "/v1/subscriptions"
	r := do(t, apiRequest(t, "POST", subs, adminSecret, "application/json", pushBody("inv-push", rc.srv.URL, 1, "invoice.*")))
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	oldUID := r.body["uid"].(string)
	require.NotEmpty(t, oldUID)
	publish(t, b, "inv-1", "invoice.sent")
	var dl map[string]any
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool {
		list := deadLetters(t, b, "subscription=inv-push")
		if len(list) == 1 {
			dl = list[0]
		}
		return dl != nil
	}, "the invoice becomes a dead letter")
	require.Equal(t, oldUID, dl["subscription_uid"], "the dead letter names the incarnation that gave up")
	id := dl["id"].(string)

	r = do(t, apiRequest(t, "DELETE", subs+"/inv-push", adminSecret, "", ""))
	require.Equal(t, http.StatusNoContent, r.status, string(r.raw))
	r = do(t, apiRequest(t, "POST", subs, orderReaderSecret, "application/json", `{"name":"inv-push","types":["order.*"],"pull":{}}`))
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	require.NotEqual(t, oldUID, r.body["uid"], "a new subscription of the same name is another incarnation")

	// The attack, step by step.
	ids, cursor := dlPage(t, b, orderReaderSecret, "subscription=inv-push&status=all")
	require.Empty(t, ids, "the old dead letter is not listed")
	require.Empty(t, cursor)
	ids, _ = dlPage(t, b, orderReaderSecret, "status=all")
	require.Empty(t, ids)
	r = getJSON2(t, b.base+"/v1/deadletters/"+id, orderReaderSecret)
	require.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	require.NotContains(t, string(r.raw), "inv-1", "the event's data is not shown")
	r = do(t, apiRequest(t, "POST", b.base+"/v1/deadletters/"+id+"/redrive", orderReaderSecret, "", ""))
	require.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	r = do(t, apiRequest(t, "POST", b.base+"/v1/deadletters/redrive", orderReaderSecret, "application/json", `{"subscription":"inv-push"}`))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.Empty(t, r.body["redriven"])
	r = do(t, apiRequest(t, "POST", b.base+"/v1/deadletters/"+id+"/resolve", orderReaderSecret, "application/json", `{"reason":"mine now"}`))
	require.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	require.Empty(t, attemptsOf(t, b, "inv-push", orderReaderSecret), "nor are the old subscription's attempts and the answers they kept")
	r = getJSON2(t, b.base+"/v1/subscriptions/inv-push/events?max=10", orderReaderSecret)
	require.Equal(t, http.StatusOK, r.status)
	require.Empty(t, r.body["events"], "nothing was redriven to the new subscription")

	// Even an admin cannot send it to the new subscription; resolving works.
	r = postJSON(t, b.base+"/v1/deadletters/"+id+"/redrive", "")
	require.Equal(t, http.StatusConflict, r.status, string(r.raw))
	require.Equal(t, "subscription", r.body["field"])
	require.Equal(t, "open", getJSON(t, b.base+"/v1/deadletters/"+id).body["status"])

	// The dead letter's own type counts too, not only its subscription's.
	newUID := getJSON(t, subs+"/inv-push").body["uid"].(string)
	store := b.srv.deliv.DeadLetters()
	foreign := &deadletter.DeadLetter{Kind: "undeliverable", Subscription: "inv-push", SubscriptionUID: newUID,
		EventID: "x-1", EventType: "invoice.paid", Event: []byte(`{}`)}
	own := &deadletter.DeadLetter{Kind: "undeliverable", Subscription: "inv-push", SubscriptionUID: newUID,
		EventID: "x-2", EventType: "order.created", Event: []byte(`{}`)}
	legacy := &deadletter.DeadLetter{Kind: "undeliverable", Subscription: "inv-push", EventID: "x-3", EventType: "order.created", Event: []byte(`{}`)}
	for _, d := range []*deadletter.DeadLetter{foreign, own, legacy} {
		require.NoError(t, store.Add(context.Background(), d))
	}
	require.Equal(t, http.StatusForbidden, getJSON2(t, b.base+"/v1/deadletters/"+foreign.ID, orderReaderSecret).status)
	require.Equal(t, http.StatusForbidden, getJSON2(t, b.base+"/v1/deadletters/"+legacy.ID, orderReaderSecret).status,
		"a dead letter stored without a uid is for admins only")
	require.Equal(t, http.StatusOK, getJSON2(t, b.base+"/v1/deadletters/"+own.ID, orderReaderSecret).status)
	ids, _ = dlPage(t, b, orderReaderSecret, "subscription=inv-push")
	require.Equal(t, []string{own.ID}, ids)
	require.Len(t, deadLetters(t, b, "subscription=inv-push"), 4, "admins see every one")
}

// Defect 15: the AsyncAPI document shows a token the subscriptions it may see.
func TestAsyncAPIShowsOnlyCoveredSubscriptions(t *testing.T) {
	t.Parallel()
	b := start(t, authzConfig(t, map[string]*config.Subscription{
		"invoices-secret": {Types: []string{"invoice.*"}, Pull: &config.Pull{}},
		"orders-board":    {Types: []string{"order.*"}, Pull: &config.Pull{}},
	}))
	doc := func(tok string) string {
		r := getJSON2(t, b.base+"/v1/asyncapi", tok)
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		return string(r.raw)
	}
	admin := doc(adminSecret)
	require.Contains(t, admin, "invoices-secret")
	require.Contains(t, admin, "orders-board")
	reader := doc(orderReaderSecret)
	require.NotContains(t, reader, "invoices-secret")
	require.Contains(t, reader, "orders-board")
	nobody := doc(nobodySecret)
	require.NotContains(t, nobody, "invoices-secret")
	require.NotContains(t, nobody, "orders-board")
}

// Defect 19: one rule for who may list dead letters, and pages that never
// carry the id of a dead letter the token may not see.
func TestDeadLetterListingOneRule(t *testing.T) {
	t.Parallel()
	rc := failing(t)
	inv, ord := pushSub(rc.srv.URL, "invoice.*"), pushSub(rc.srv.URL, "order.*")
	inv.Push.MaxAttempts, ord.Push.MaxAttempts = 1, 1
	b := start(t, authzConfig(t, map[string]*config.Subscription{"inv": inv, "ord": ord}))
	for i := range 3 {
		publish(t, b, fmt.Sprintf("i%d", i), "invoice.sent")
		publish(t, b, fmt.Sprintf("o%d", i), "order.created")
	}
	weirtest.EventuallyTrue(t, 15*time.Second, func() bool { return len(deadLetters(t, b, "")) == 6 }, "six dead letters")

	// A token that may see none gets an empty listing that ends at once.
	for _, q := range []string{"limit=1", "limit=2", ""} {
		ids, cursor := dlPage(t, b, nobodySecret, q)
		require.Empty(t, ids, q)
		require.Empty(t, cursor, "%s: no cursor without visible results", q)
	}
	// subscription= of a subscription the token does not cover is refused.
	for _, tok := range []string{nobodySecret, orderReaderSecret} {
		r := getJSON2(t, b.base+"/v1/deadletters?subscription=inv", tok)
		require.Equal(t, http.StatusForbidden, r.status, string(r.raw))
		require.Equal(t, "subscription", r.body["field"])
	}
	r := getJSON2(t, b.base+"/v1/deadletters?subscription=ghost", orderReaderSecret)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "subscription", r.body["field"])
	r = do(t, apiRequest(t, "POST", b.base+"/v1/deadletters/redrive", orderReaderSecret, "application/json", `{"subscription":"inv"}`))
	require.Equal(t, http.StatusForbidden, r.status, "bulk redrive takes the same rule")

	// Pages of one: every cursor is the id of the page's own (visible) dead letter.
	visible := map[string]bool{}
	for _, d := range deadLetters(t, b, "subscription=ord") {
		visible[d["id"].(string)] = true
	}
	require.Len(t, visible, 3)
	seen := map[string]bool{}
	q := "limit=1"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10, "the listing ends")
		ids, cursor := dlPage(t, b, orderReaderSecret, q)
		for _, id := range ids {
			require.True(t, visible[id], "only ord's dead letters are listed")
			seen[id] = true
		}
		if cursor == "" {
			break
		}
		require.Equal(t, []string{cursor}, ids, "the cursor is the id of the page's dead letter")
		q = "limit=1&cursor=" + url.QueryEscape(cursor)
	}
	require.Len(t, seen, 3, "every visible dead letter is reached")
	ids, _ := dlPage(t, b, orderReaderSecret, "subscription=ord&limit=1000")
	require.Len(t, ids, 3)
}

// A subscription stored by an older weir (no uid, no trusted) is given a uid
// that every node then shares, and is untrusted until an admin replaces it.
func TestStoredSubscriptionWithoutUIDIsMigrated(t *testing.T) {
	t.Parallel()
	b := start(t, authzConfig(t, nil))
	ctx := context.Background()
	kv, err := b.srv.Bus().JetStream().KeyValue(ctx, delivery.SubscriptionsBucket)
	require.NoError(t, err)
	_, err = kv.Put(ctx, "spec.legacy", []byte(`{"types":["order.*"],"push":{"url":"http://127.0.0.1:9/","secret":"`+subSecret+`"}}`))
	require.NoError(t, err)
	var uid string
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool {
		r := getJSON(t, b.base+"/v1/subscriptions/legacy")
		uid, _ = r.body["uid"].(string)
		return r.status == http.StatusOK && uid != ""
	}, "the legacy subscription runs with a uid")
	require.Equal(t, false, getJSON(t, b.base+"/v1/subscriptions/legacy").body["trusted"])
	e, err := kv.Get(ctx, "spec.legacy")
	require.NoError(t, err)
	require.Contains(t, string(e.Value()), `"uid":"`+uid+`"`, "the uid is written back for every node")
}

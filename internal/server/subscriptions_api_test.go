package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

func TestSubscriptionsThroughTheAPI(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	b := start(t, withSubs(t, map[string]*config.Subscription{
		"declared": {Types: []string{"order.created"}, Pull: &config.Pull{}},
	}))
	url := b.base + "/v1/subscriptions"
	body := `{"name":"billing","types":["order.*"],"push":{"url":"` + rc.srv.URL + `","secret":"` + subSecret + `","retry":{"initial":"20ms","max":"100ms"}}}`

	r := do(t, apiRequest(t, "POST", url, adminSecret, "application/json", body))
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	require.Equal(t, "api", r.body["origin"])
	r = do(t, apiRequest(t, "POST", url, adminSecret, "application/json", body))
	require.Equal(t, http.StatusConflict, r.status)

	b.sendShop(t, `{"a":1}`, "api-sub-1")
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rc.delivered()) == 1 }, "an API subscription delivers")

	list := getJSON(t, url)
	require.Len(t, list.body["subscriptions"], 2)

	// weir.yaml wins: the API may not change a declared subscription.
	r = do(t, apiRequest(t, "PUT", url+"/declared", adminSecret, "application/json", `{"types":["x"],"pull":{}}`))
	require.Equal(t, http.StatusConflict, r.status)
	r = do(t, apiRequest(t, "DELETE", url+"/declared", adminSecret, "", ""))
	require.Equal(t, http.StatusConflict, r.status)

	// Bad input names the field.
	bad := map[string]string{
		`{"name":"x","types":[],"pull":{}}`: "types",
		`{"name":"x","types":["order.*"]}`:  "",
		`{"name":"x","types":["order.*"],"push":{"url":"ftp://a","secret":"` + subSecret + `"}}`: "push.url",
		`{"name":"x","types":["order.*"],"pull":{},"filter":"data.total >"}`:                     "filter",
		`{"name":"x","types":["order.*"],"pull":{},"colour":"blue"}`:                             "body",
		`{"name":"bad name","types":["order.*"],"pull":{}}`:                                      "name",
	}
	for in, field := range bad {
		r := do(t, apiRequest(t, "POST", url, adminSecret, "application/json", in))
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", in, r.raw)
		if field != "" {
			require.Equal(t, field, r.body["field"], in)
		}
	}

	// A denied address is refused as such, even for an admin.
	r = do(t, apiRequest(t, "POST", url, adminSecret, "application/json",
		`{"name":"x","types":["order.*"],"push":{"url":"http://169.254.169.254/latest","secret":"`+subSecret+`"}}`))
	require.Equal(t, http.StatusUnprocessableEntity, r.status, string(r.raw))
	require.Equal(t, "https://weir.dev/problems/target-denied", r.body["type"])
	require.Equal(t, "push.url", r.body["field"])

	// A token may only subscribe to what its roles cover.
	r = do(t, apiRequest(t, "POST", url, pubSecret, "application/json", `{"name":"sneaky","types":["order.*"],"pull":{}}`))
	require.Equal(t, http.StatusForbidden, r.status)
	require.Equal(t, http.StatusForbidden, getJSON2(t, url+"/billing", pubSecret).status)

	r = do(t, apiRequest(t, "DELETE", url+"/billing", adminSecret, "", ""))
	require.Equal(t, http.StatusNoContent, r.status)
	require.Equal(t, http.StatusNotFound, getJSON(t, url+"/billing").status)
	_, err := b.srv.Bus().JetStream().Consumer(context.Background(), bus.EventsStream, "sub-billing")
	require.Error(t, err, "deleting a subscription deletes its consumer")
}

func getJSON2(t *testing.T, url, tok string) response {
	return do(t, apiRequest(t, "GET", url, tok, "", ""))
}

func TestSubscriptionRemovedFromConfigLosesItsConsumer(t *testing.T) {
	t.Parallel()
	cfg := withSubs(t, map[string]*config.Subscription{
		"keep": {Types: []string{"order.created"}, Pull: &config.Pull{}},
		"drop": {Types: []string{"order.created"}, Pull: &config.Pull{}},
	})
	b := start(t, cfg)
	js := b.srv.Bus().JetStream()
	_, err := js.Consumer(context.Background(), bus.EventsStream, "sub-drop")
	require.NoError(t, err)
	require.NoError(t, b.srv.Stop(context.Background()))

	delete(cfg.Subscriptions, "drop")
	b2 := start(t, cfg)
	js = b2.srv.Bus().JetStream()
	_, err = js.Consumer(context.Background(), bus.EventsStream, "sub-drop")
	require.Error(t, err)
	_, err = js.Consumer(context.Background(), bus.EventsStream, "sub-keep")
	require.NoError(t, err)
}

func TestRestartResumesWhereItStopped(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	cfg := withSubs(t, map[string]*config.Subscription{"app": pushSub(rc.srv.URL, "order.created")})
	b := start(t, cfg)
	b.sendShop(t, `{"n":1}`, "r1")
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rc.delivered()) == 1 }, "first delivered")
	require.NoError(t, b.srv.Stop(context.Background()))

	// Events stored while no weir is delivering arrive after the restart, and
	// what was delivered before is not delivered again.
	b2 := start(t, cfg)
	b2.sendShop(t, `{"n":2}`, "r2")
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rc.delivered()) == 2 }, "second delivered")
	ids := map[string]bool{}
	for _, ev := range rc.delivered() {
		ids[ev.ID()] = true
	}
	require.Len(t, ids, 2)
}

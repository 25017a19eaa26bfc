package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/weirtest"
)

// Tokens of two apps, each allowed to subscribe to its own types only.
const (
	ordersSubSecret   = "test-orders-subscriber-0123456789"
	invoicesSubSecret = "test-invoices-subscriber-0123456789"
)

func withSubscriberTokens(cfg *config.Config) *config.Config {
	cfg.Tokens = append(cfg.Tokens,
		config.Token{Name: "orders-sub", Secret: ordersSubSecret, Roles: []string{"subscribe:order.*"}},
		config.Token{Name: "invoices-sub", Secret: invoicesSubSecret, Roles: []string{"subscribe:invoice.*"}})
	return cfg
}

// streamMsgs is how many messages a stream holds.
func streamMsgs(t *testing.T, b *bundle, name string) uint64 {
	t.Helper()
	s, err := b.srv.Bus().JetStream().Stream(context.Background(), name)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

func since(d time.Duration) string { return time.Now().Add(-d).UTC().Format(time.RFC3339) }

func TestReplayDoesNotGrowTheEventsStream(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	var ids []string
	for i := range 6 {
		ids = append(ids, b.sendShop(t, fmt.Sprintf(`{"n":%d}`, i), fmt.Sprintf("ng%d", i)).body["id"].(string))
	}
	before := streamMsgs(t, b, bus.EventsStream)
	require.EqualValues(t, 6, before)

	// Push: the replayed events reach the app, signed, and EVENTS holds no copy.
	rc := collector(t)
	sub := fmt.Sprintf(`{"name":"late","types":["order.created"],"push":{"url":"%s","secret":"%s","max_in_flight":1}}`, rc.srv.URL, subSecret)
	require.Equal(t, http.StatusCreated, postJSON(t, b.base+"/v1/subscriptions", sub).status)
	for range 3 {
		r := postJSON(t, b.base+"/v1/subscriptions/late/replay", fmt.Sprintf(`{"from":%q}`, since(time.Hour)))
		require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
		id := r.body["id"].(string)
		weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return getJSON(t, b.base+"/v1/replays/"+id).body["state"] == "done" }, "the replay finishes")
	}
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rc.delivered()) == 18 }, "three replays deliver every event three times")
	for i, ev := range rc.delivered() {
		require.Equal(t, ids[i%6], ev.ID(), "events keep their id and order")
	}
	require.Equal(t, before, streamMsgs(t, b, bus.EventsStream), "a replay adds nothing to EVENTS")
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return streamMsgs(t, b, delivery.ReplaysStream) == 0 },
		"delivered replayed events leave the replay stream")

	// Pull: the app fetches the replayed events and acknowledges them.
	require.Equal(t, http.StatusCreated, postJSON(t, b.base+"/v1/subscriptions", `{"name":"puller","types":["order.*"],"pull":{}}`).status)
	r := postJSON(t, b.base+"/v1/subscriptions/puller/replay", fmt.Sprintf(`{"from":%q}`, since(time.Hour)))
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	var got []string
	weirtest.EventuallyTrue(t, 20*time.Second, func() bool {
		f := getJSON(t, b.base+"/v1/subscriptions/puller/events?max=10&wait=1s")
		require.Equal(t, http.StatusOK, f.status, string(f.raw))
		var acks []map[string]any
		for _, e := range f.body["events"].([]any) {
			e := e.(map[string]any)
			got = append(got, e["event"].(map[string]any)["id"].(string))
			acks = append(acks, map[string]any{"ack_id": e["ack_id"]})
		}
		if len(acks) > 0 {
			raw, _ := json.Marshal(map[string]any{"acks": acks})
			a := postJSON(t, b.base+"/v1/subscriptions/puller/ack", string(raw))
			require.Equal(t, http.StatusOK, a.status, string(a.raw))
		}
		return len(got) >= 6
	}, "a pull subscription fetches the replayed events")
	require.Equal(t, ids, got)
	require.Equal(t, before, streamMsgs(t, b, bus.EventsStream), "a replay adds nothing to EVENTS")
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return streamMsgs(t, b, delivery.ReplaysStream) == 0 },
		"acknowledged replayed events leave the replay stream")
}

func TestReplaysOverTheCapAreRefused(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	for i := range 20 {
		b.sendShop(t, fmt.Sprintf(`{"n":%d}`, i), fmt.Sprintf("cap%d", i))
	}
	slow := fmt.Sprintf(`{"from":%q,"rate":1}`, since(time.Hour))
	var running []string
	startReplay := func(sub string) response {
		r := postJSON(t, b.base+"/v1/subscriptions/"+sub+"/replay", slow)
		if r.status == http.StatusAccepted {
			running = append(running, r.body["id"].(string))
		}
		return r
	}
	for i := range 5 {
		name := fmt.Sprintf("s%d", i)
		require.Equal(t, http.StatusCreated, postJSON(t, b.base+"/v1/subscriptions", `{"name":"`+name+`","types":["order.*"],"pull":{}}`).status)
	}
	// Per subscription.
	require.Equal(t, http.StatusAccepted, startReplay("s0").status)
	require.Equal(t, http.StatusAccepted, startReplay("s0").status)
	r := startReplay("s0")
	require.Equal(t, http.StatusTooManyRequests, r.status, string(r.raw))
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	require.Equal(t, "https://weir.dev/problems/too-many-replays", r.body["type"])
	require.NotEmpty(t, r.header.Get("Retry-After"))

	// On the node.
	for i := 1; i < 4; i++ {
		for range 2 {
			require.Equal(t, http.StatusAccepted, startReplay(fmt.Sprintf("s%d", i)).status)
		}
	}
	r = startReplay("s4")
	require.Equal(t, http.StatusTooManyRequests, r.status, string(r.raw))
	require.NotEmpty(t, r.header.Get("Retry-After"))

	// A cancelled replay frees its place.
	c := do(t, apiRequest(t, "DELETE", b.base+"/v1/replays/"+running[0], adminSecret, "", ""))
	require.Equal(t, http.StatusOK, c.status)
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return getJSON(t, b.base+"/v1/replays/"+running[0]).body["state"] == "cancelled" }, "cancelled")
	require.Equal(t, http.StatusAccepted, startReplay("s4").status)
	for _, id := range running[1:] {
		do(t, apiRequest(t, "DELETE", b.base+"/v1/replays/"+id, adminSecret, "", ""))
	}
}

func TestReplayRoutesCheckTheSubscription(t *testing.T) {
	t.Parallel()
	b := start(t, withSubscriberTokens(testConfig(t)))
	for i := range 5 {
		b.sendShop(t, fmt.Sprintf(`{"n":%d}`, i), fmt.Sprintf("rr%d", i))
	}
	url := b.base + "/v1/subscriptions"
	require.Equal(t, http.StatusCreated, do(t, apiRequest(t, "POST", url, ordersSubSecret, "application/json", `{"name":"orders","types":["order.*"],"pull":{}}`)).status)
	require.Equal(t, http.StatusCreated, do(t, apiRequest(t, "POST", url, invoicesSubSecret, "application/json", `{"name":"invoices","types":["invoice.*"],"pull":{}}`)).status)

	r := do(t, apiRequest(t, "POST", url+"/orders/replay", ordersSubSecret, "application/json", fmt.Sprintf(`{"from":%q,"rate":1}`, since(time.Hour))))
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	id := r.body["id"].(string)
	replay := b.base + "/v1/replays/" + id

	// The token of another subscription may neither read nor cancel it.
	r = do(t, apiRequest(t, "GET", replay, invoicesSubSecret, "", ""))
	require.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	require.Equal(t, "id", r.body["field"])
	r = do(t, apiRequest(t, "DELETE", replay, invoicesSubSecret, "", ""))
	require.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	require.NotEqual(t, "cancelled", getJSON(t, replay).body["state"], "the refused cancel changed nothing")
	require.Equal(t, http.StatusForbidden, do(t, apiRequest(t, "GET", replay, pubSecret, "", "")).status)

	// Its own token may.
	require.Equal(t, http.StatusOK, do(t, apiRequest(t, "GET", replay, ordersSubSecret, "", "")).status)
	require.Equal(t, http.StatusOK, do(t, apiRequest(t, "DELETE", replay, ordersSubSecret, "", "")).status)
	require.Equal(t, http.StatusNotFound, do(t, apiRequest(t, "GET", b.base+"/v1/replays/nope", ordersSubSecret, "", "")).status)

	// A subscription made later under the same name by another token is
	// another incarnation: the replay stays under the types it was for.
	require.Equal(t, http.StatusNoContent, do(t, apiRequest(t, "DELETE", url+"/orders", adminSecret, "", "")).status)
	require.Equal(t, http.StatusCreated, do(t, apiRequest(t, "POST", url, invoicesSubSecret, "application/json", `{"name":"orders","types":["invoice.*"],"pull":{}}`)).status)
	r = do(t, apiRequest(t, "GET", replay, invoicesSubSecret, "", ""))
	require.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	require.Equal(t, http.StatusOK, do(t, apiRequest(t, "GET", replay, ordersSubSecret, "", "")).status)
}

// TestReplaceIsCheckedAgainstTheStoredSubscription: the right to replace a
// subscription is judged on its stored definition, not on this node's copy,
// which may lag behind another node or have failed to start here.
func TestReplaceIsCheckedAgainstTheStoredSubscription(t *testing.T) {
	t.Parallel()
	b := start(t, withSubscriberTokens(testConfig(t)))
	ctx := context.Background()
	kv, err := b.srv.Bus().JetStream().KeyValue(ctx, delivery.SubscriptionsBucket)
	require.NoError(t, err)
	// Stored by another node, with a filter this node cannot start.
	_, err = kv.Put(ctx, "spec.inv", []byte(`{"types":["invoice.*"],"filter":"(((","pull":{},"uid":"u-inv","trusted":true,"created_by":"admin"}`))
	require.NoError(t, err)

	r := do(t, apiRequest(t, "PUT", b.base+"/v1/subscriptions/inv", ordersSubSecret, "application/json", `{"types":["order.*"],"pull":{}}`))
	require.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	require.Equal(t, "name", r.body["field"])
	e, err := kv.Get(ctx, "spec.inv")
	require.NoError(t, err)
	require.Contains(t, string(e.Value()), `"invoice.*"`, "the stored definition is unchanged")

	r = do(t, apiRequest(t, "PUT", b.base+"/v1/subscriptions/inv", invoicesSubSecret, "application/json", `{"types":["invoice.*"],"pull":{}}`))
	require.Equal(t, http.StatusOK, r.status, "a token covering it may replace it: %s", r.raw)
	require.Equal(t, "u-inv", r.body["uid"], "and it keeps its incarnation")
}

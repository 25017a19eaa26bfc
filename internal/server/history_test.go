package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

func postJSON(t *testing.T, url, body string) response {
	return do(t, apiRequest(t, "POST", url, adminSecret, "application/json", body))
}

// deadLetters lists dead letters matching a query.
func deadLetters(t *testing.T, b *bundle, query string) []map[string]any {
	r := getJSON(t, b.base+"/v1/deadletters?"+query)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	var out []map[string]any
	for _, d := range r.body["dead_letters"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}

// switchable is a receiver that fails until healthy is set.
func switchable(t *testing.T) (*receiver, func()) {
	var mu sync.Mutex
	healthy := false
	rc := newReceiver(t, func(int, cloudevents.Event, http.ResponseWriter) int {
		mu.Lock()
		defer mu.Unlock()
		if healthy {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	})
	return rc, func() { mu.Lock(); healthy = true; mu.Unlock() }
}

func TestRedriveAndBulkRedrive(t *testing.T) {
	t.Parallel()
	rcA, healA := switchable(t)
	rcB, _ := switchable(t)
	subA, subB := pushSub(rcA.srv.URL, "order.created"), pushSub(rcB.srv.URL, "order.created")
	subA.Push.MaxAttempts, subB.Push.MaxAttempts = 2, 2
	b := start(t, withSubs(t, map[string]*config.Subscription{"a": subA, "b": subB}))
	ids := []string{}
	for i := range 3 {
		ids = append(ids, b.sendShop(t, fmt.Sprintf(`{"n":%d}`, i), fmt.Sprintf("rd%d", i)).body["id"].(string))
	}
	weirtest.EventuallyTrue(t, 15*time.Second, func() bool {
		return len(deadLetters(t, b, "subscription=a")) == 3 && len(deadLetters(t, b, "subscription=b")) == 3
	},
		"every event becomes a dead letter of both subscriptions")

	healA()
	// One redrive, then the rest in bulk by filter; b's stay where they are.
	first := deadLetters(t, b, "subscription=a")[0]
	r := postJSON(t, b.base+"/v1/deadletters/"+first["id"].(string)+"/redrive", "")
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.Equal(t, "redriven", r.body["status"])
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rcA.delivered()) == 1 }, "the redriven event reaches the now-healthy receiver")
	r = postJSON(t, b.base+"/v1/deadletters/"+first["id"].(string)+"/redrive", "")
	require.Equal(t, http.StatusConflict, r.status, "a dead letter is redriven once")

	r = postJSON(t, b.base+"/v1/deadletters/redrive", `{"subscription":"a"}`)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.Len(t, r.body["redriven"], 2)
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rcA.delivered()) == 3 }, "bulk redrive delivers the rest")
	got := map[string]bool{}
	for _, ev := range rcA.delivered() {
		got[ev.ID()] = true
	}
	for _, id := range ids {
		require.True(t, got[id], "event %s redriven with its own id", id)
	}
	require.Empty(t, deadLetters(t, b, "subscription=a"), "no open dead letters left for a")
	require.Len(t, deadLetters(t, b, "subscription=a&status=redriven"), 3)
	require.Len(t, deadLetters(t, b, "subscription=b"), 3, "b's dead letters are untouched")

	// Resolve one of b's with a reason; pagination walks the rest.
	bs := deadLetters(t, b, "subscription=b")
	r = postJSON(t, b.base+"/v1/deadletters/"+bs[0]["id"].(string)+"/resolve", `{"reason":"customer cancelled"}`)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "customer cancelled", r.body["resolution"])
	page := getJSON(t, b.base+"/v1/deadletters?subscription=b&limit=1")
	require.Len(t, page.body["dead_letters"], 1)
	require.NotEmpty(t, page.body["next_cursor"])
	page2 := getJSON(t, b.base+"/v1/deadletters?subscription=b&limit=1&cursor="+page.body["next_cursor"].(string))
	require.Len(t, page2.body["dead_letters"], 1)
	require.NotEqual(t, page.body["dead_letters"], page2.body["dead_letters"])
	require.Equal(t, http.StatusBadRequest, getJSON(t, b.base+"/v1/deadletters?status=lost").status)
	require.Equal(t, http.StatusBadRequest, postJSON(t, b.base+"/v1/deadletters/"+bs[1]["id"].(string)+"/resolve", `{"reason":" "}`).status)
}

func TestEditAndRedriveQuarantined(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	withContracts(t, cfg, map[string]string{"order.created": orderSchemaV1})
	b := start(t, cfg)
	r := b.sendShop(t, `{"order":"seven","total":3}`, "q1")
	require.Equal(t, "quarantined", r.body["status"])
	id := r.body["dead_letter_id"].(string)
	url := b.base + "/v1/deadletters/" + id + "/redrive"

	r = postJSON(t, url, `{"data":{"order":"still seven","total":3}}`)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, "an invalid fix is refused")
	require.Equal(t, "data/order", r.body["field"])
	require.Equal(t, "open", getJSON(t, b.base+"/v1/deadletters/"+id).body["status"], "and the dead letter stays open")
	require.Empty(t, storedEvents(t, b.srv.Bus().JetStream(), "events.>"))

	// A fix is checked as a webhook body is: I-JSON, so that the contract
	// and the subscribers cannot read different copies of a repeated name.
	r = postJSON(t, url, `{"data":{"order":7,"order":"seven","total":3}}`)
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "https://weir.dev/problems/duplicate-key", r.body["type"])
	require.Equal(t, "data/order", r.body["field"])
	r = postJSON(t, url, `{"data":{"order":7,"total":1e999999}}`)
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "data/total", r.body["field"])
	require.Equal(t, "open", getJSON(t, b.base+"/v1/deadletters/"+id).body["status"])

	r = postJSON(t, url, `{"data":{"order":7,"total":3}}`)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	evs := storedEvents(t, b.srv.Bus().JetStream(), "events.order.created")
	require.Len(t, evs, 1, "a valid fix is published")
	require.Equal(t, map[string]any{"order": 7.0, "total": 3.0}, evs[0]["data"])
	require.Contains(t, evs[0]["dataschema"], "/versions/1")
	require.Equal(t, "redriven", getJSON(t, b.base+"/v1/deadletters/"+id).body["status"])
}

// collector is a receiver that keeps every delivery in order.
func collector(t *testing.T) *receiver { return newReceiver(t, nil) }

func TestReplayTimeRangeAndAlongsideLive(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	var ids []string
	var t1, t2 time.Time
	for i := range 10 {
		if i == 3 {
			t1 = time.Now()
		}
		if i == 7 {
			t2 = time.Now()
		}
		ids = append(ids, b.sendShop(t, fmt.Sprintf(`{"n":%d}`, i), fmt.Sprintf("rp%d", i)).body["id"].(string))
	}
	rc := collector(t)
	sub := fmt.Sprintf(`{"name":"late","types":["order.created"],"push":{"url":"%s","secret":"%s","max_in_flight":1}}`, rc.srv.URL, subSecret)
	require.Equal(t, http.StatusCreated, postJSON(t, b.base+"/v1/subscriptions", sub).status)

	r := postJSON(t, b.base+"/v1/subscriptions/late/replay", fmt.Sprintf(`{"from":%q,"to":%q}`, t1.UTC().Format(time.RFC3339Nano), t2.UTC().Format(time.RFC3339Nano)))
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	replayID := r.body["id"].(string)
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return getJSON(t, b.base+"/v1/replays/"+replayID).body["state"] == "done" }, "the replay finishes")
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rc.delivered()) == 4 }, "the range is delivered")
	var got []string
	for _, ev := range rc.delivered() {
		got = append(got, ev.ID())
	}
	require.Equal(t, ids[3:7], got, "exactly the events of the range, in order")

	// A slow replay of everything runs while live events keep arriving.
	r = postJSON(t, b.base+"/v1/subscriptions/late/replay", fmt.Sprintf(`{"from":%q,"rate":20}`, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)))
	require.Equal(t, http.StatusAccepted, r.status)
	replayID = r.body["id"].(string)
	live := b.sendShop(t, `{"n":"live"}`, "rp-live").body["id"].(string)
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool {
		for _, ev := range rc.delivered() {
			if ev.ID() == live {
				return true
			}
		}
		return false
	}, "live traffic is delivered during the replay")
	require.Equal(t, "running", getJSON(t, b.base+"/v1/replays/"+replayID).body["state"], "the live event did not wait for the replay")
	r = do(t, apiRequest(t, "DELETE", b.base+"/v1/replays/"+replayID, adminSecret, "", ""))
	require.Equal(t, http.StatusOK, r.status)
	weirtest.EventuallyTrue(t, 5*time.Second, func() bool { return getJSON(t, b.base+"/v1/replays/"+replayID).body["state"] == "cancelled" }, "a replay can be cancelled")

	require.Equal(t, http.StatusBadRequest, postJSON(t, b.base+"/v1/subscriptions/late/replay", `{"from":"yesterday"}`).status)
	require.Equal(t, http.StatusNotFound, getJSON(t, b.base+"/v1/replays/nope").status)
}

func TestRetentionChangeApplied(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Retention.SweepEvery = 50 * time.Millisecond
	b := start(t, cfg)
	js := b.srv.Bus().JetStream()
	for i := range 5 {
		for _, typ := range []string{"debug.trace", "audit.login"} {
			body := fmt.Sprintf(`{"specversion":"1.0","id":"%s-%d","source":"/apps/x","type":"%s","data":{}}`, typ, i, typ)
			require.Equal(t, http.StatusAccepted, do(t, apiRequest(t, "POST", b.base+"/v1/events", adminSecret, "application/cloudevents+json", body)).status)
		}
	}
	r := do(t, apiRequest(t, "PUT", b.base+"/v1/retention", adminSecret, "application/json",
		`{"max_age":"720h","rules":[{"pattern":"debug.*","max_age":"1ms"},{"pattern":"audit.>","max_age":"2160h"}]}`))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(storedEvents(t, js, "events.debug.>")) == 0 }, "debug events past their 1ms are purged")
	require.Len(t, storedEvents(t, js, "events.audit.>"), 5, "events inside their limit stay")
	s, err := js.Stream(context.Background(), bus.EventsStream)
	require.NoError(t, err)
	require.Equal(t, 2160*time.Hour, s.CachedInfo().Config.MaxAge, "the stream keeps the longest rule's age")
	got := getJSON(t, b.base+"/v1/retention")
	require.Equal(t, "720h0m0s", got.body["max_age"])

	r = do(t, apiRequest(t, "PUT", b.base+"/v1/retention", pubSecret, "application/json", `{"max_age":"1h"}`))
	require.Equal(t, http.StatusForbidden, r.status)
	r = do(t, apiRequest(t, "PUT", b.base+"/v1/retention", adminSecret, "application/json", `{"max_age":"1h","rules":[{"pattern":"x..y","max_age":"1h"}]}`))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "rules[0].pattern", r.body["field"])
}

func TestReplayFromArchiveAfterRetention(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	var ids []string
	for i := range 5 {
		ids = append(ids, b.sendShop(t, fmt.Sprintf(`{"n":%d}`, i), fmt.Sprintf("ar%d", i)).body["id"].(string))
	}
	js := b.srv.Bus().JetStream()
	s, err := js.Stream(context.Background(), bus.EventsStream)
	require.NoError(t, err)
	last := s.CachedInfo().State.LastSeq
	weirtest.EventuallyTrue(t, 15*time.Second, func() bool {
		st := getJSON(t, b.base+"/v1/archive")
		seq, _ := st.body["last_seq"].(float64)
		return uint64(seq) >= last
	}, "the archive has every event")
	// The events leave the bus, as retention would take them.
	require.NoError(t, s.Purge(context.Background(), jetstream.WithPurgeSubject("events.order.created")))
	require.Empty(t, storedEvents(t, js, "events.order.created"))

	rc := collector(t)
	sub := fmt.Sprintf(`{"name":"audit","types":["order.*"],"push":{"url":"%s","secret":"%s","max_in_flight":1}}`, rc.srv.URL, subSecret)
	require.Equal(t, http.StatusCreated, postJSON(t, b.base+"/v1/subscriptions", sub).status)
	r := postJSON(t, b.base+"/v1/subscriptions/audit/replay", fmt.Sprintf(`{"from":%q,"from_archive":true}`, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)))
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	weirtest.EventuallyTrue(t, 15*time.Second, func() bool { return len(rc.delivered()) == 5 }, "history older than retention is replayed from the archive")
	var got []string
	for _, ev := range rc.delivered() {
		got = append(got, ev.ID())
	}
	require.Equal(t, ids, got)
}

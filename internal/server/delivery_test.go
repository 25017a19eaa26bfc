package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

const subSecret = "whsec_dGVzdC1zdWJzY3JpcHRpb24tc2VjcmV0LTEyMzQ="

// receiver is a micro app: it verifies every delivery with an independent
// Standard Webhooks implementation, parses it with the CloudEvents SDK, and
// answers what respond says.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	got     []cloudevents.Event // every delivery that verified, in arrival order
	answers []int
	respond func(n int, ev cloudevents.Event, w http.ResponseWriter) int
}

func newReceiver(t *testing.T, respond func(n int, ev cloudevents.Event, w http.ResponseWriter) int) *receiver {
	rc := &receiver{t: t, respond: respond}
	wh, err := standardwebhooks.NewWebhook(subSecret)
	require.NoError(t, err)
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("delivery does not verify with the Standard Webhooks library: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
			t.Errorf("Content-Type %q", ct)
		}
		var ev cloudevents.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("delivery is not a CloudEvent the SDK parses: %v", err)
		}
		if r.Header.Get("webhook-id") != ev.ID() {
			t.Errorf("webhook-id %q is not the event id %q", r.Header.Get("webhook-id"), ev.ID())
		}
		rc.mu.Lock()
		n := len(rc.answers) + 1
		rc.mu.Unlock()
		code := http.StatusOK
		if rc.respond != nil {
			code = rc.respond(n, ev, w)
		}
		rc.mu.Lock()
		rc.answers = append(rc.answers, code)
		if code/100 == 2 {
			rc.got = append(rc.got, ev)
		}
		rc.mu.Unlock()
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, "answer %d", code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) delivered() []cloudevents.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]cloudevents.Event(nil), rc.got...)
}

func (rc *receiver) attempts() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.answers)
}

// pushSub is a push subscription to rc with a fast retry schedule.
func pushSub(url string, types ...string) *config.Subscription {
	return &config.Subscription{
		Types: types,
		Push: &config.Push{
			URL: url, Secret: subSecret, Timeout: config.Duration(2 * time.Second), MaxAttempts: 6,
			Retry: config.Retry{Initial: config.Duration(20 * time.Millisecond), Max: config.Duration(100 * time.Millisecond)},
		},
	}
}

func withSubs(t *testing.T, subs map[string]*config.Subscription) *config.Config {
	cfg := testConfig(t)
	cfg.Subscriptions = subs
	cfg.WithDefaults()
	require.NoError(t, cfg.Validate())
	return cfg
}

func getJSON(t *testing.T, url string) response {
	t.Helper()
	return do(t, apiRequest(t, "GET", url, adminSecret, "", ""))
}

func TestPushRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(n int, _ cloudevents.Event, _ http.ResponseWriter) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	b := start(t, withSubs(t, map[string]*config.Subscription{"fulfil": pushSub(rc.srv.URL, "order.*")}))
	r := b.sendShop(t, `{"order":1,"total":120}`, "m-retry")
	require.Equal(t, http.StatusAccepted, r.status)
	id := r.body["id"].(string)

	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rc.delivered()) == 1 }, "the event is delivered")
	got := rc.delivered()[0]
	require.Equal(t, id, got.ID())
	require.Equal(t, "order.created", got.Type())
	require.Equal(t, "/sources/shop", got.Source())

	var attempts []any
	weirtest.EventuallyTrue(t, 5*time.Second, func() bool {
		r := getJSON(t, b.base+"/v1/subscriptions/fulfil/attempts?event_id="+id)
		attempts, _ = r.body["attempts"].([]any)
		return len(attempts) == 4
	}, "four attempts are recorded")
	outcomes := []string{}
	for i, a := range attempts {
		m := a.(map[string]any)
		require.EqualValues(t, i+1, m["attempt"])
		outcomes = append(outcomes, m["outcome"].(string))
	}
	require.Equal(t, []string{"failed", "failed", "failed", "delivered"}, outcomes)
	require.Equal(t, "answer 500", attempts[0].(map[string]any)["response"])
	require.EqualValues(t, 500, attempts[0].(map[string]any)["status"])
	require.NotEmpty(t, attempts[0].(map[string]any)["next_retry_in"])
	require.Equal(t, 4, rc.attempts(), "and nothing after the success")

	v := getJSON(t, b.base+"/v1/subscriptions/fulfil")
	require.Equal(t, "push", v.body["mode"])
	require.Equal(t, "active", v.body["state"])
	require.Equal(t, "whsec_********", v.body["spec"].(map[string]any)["push"].(map[string]any)["secret"], "the secret is never shown")

	m := string(do(t, mustGet(t, b.base+"/metrics")).raw)
	require.Contains(t, m, `weir_deliveries_total{outcome="delivered",subscription="fulfil"} 1`)
	require.Contains(t, m, `weir_deliveries_total{outcome="failed",subscription="fulfil"} 3`)
	require.Contains(t, m, `weir_subscription_lag{subscription="fulfil"} 0`)
}

// TestFirstAttemptDeliveriesShareSubjects: events delivered at the first
// attempt do not each add a subject to the attempts stream (JetStream keeps
// every subject in memory), and their attempts can still be read by event id.
func TestFirstAttemptDeliveriesShareSubjects(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(int, cloudevents.Event, http.ResponseWriter) int { return http.StatusOK })
	b := start(t, withSubs(t, map[string]*config.Subscription{"fulfil": pushSub(rc.srv.URL, "order.*")}))
	var ids []string
	for i := range 300 {
		r := b.sendShop(t, fmt.Sprintf(`{"order":%d}`, i), fmt.Sprintf("m-shared-%d", i))
		require.Equal(t, http.StatusAccepted, r.status)
		ids = append(ids, r.body["id"].(string))
	}
	weirtest.EventuallyTrue(t, 20*time.Second, func() bool { return len(rc.delivered()) == 300 }, "every event is delivered")

	for _, id := range []string{ids[0], ids[150], ids[299]} {
		var attempts []any
		weirtest.EventuallyTrue(t, 5*time.Second, func() bool {
			attempts, _ = getJSON(t, b.base+"/v1/subscriptions/fulfil/attempts?event_id="+id).body["attempts"].([]any)
			return len(attempts) == 1
		}, "the one attempt of "+id)
		a := attempts[0].(map[string]any)
		require.Equal(t, id, a["event_id"])
		require.Equal(t, "delivered", a["outcome"])
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := b.srv.Bus().JetStream().Stream(ctx, "WEIR_ATTEMPTS")
	require.NoError(t, err)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("attempts.fulfil.>"))
	require.NoError(t, err)
	require.EqualValues(t, 300, info.State.Msgs)
	require.LessOrEqual(t, len(info.State.Subjects), 256, "300 records on at most 256 shared subjects")
	for subj := range info.State.Subjects {
		require.True(t, strings.HasPrefix(subj, "attempts.fulfil.ok."), subj)
	}
}

func TestPushHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	var times []time.Time
	var mu sync.Mutex
	rc := newReceiver(t, func(n int, _ cloudevents.Event, w http.ResponseWriter) int {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	b := start(t, withSubs(t, map[string]*config.Subscription{"slow": pushSub(rc.srv.URL, "order.created")}))
	b.sendShop(t, `{"a":1}`, "m-ra")
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rc.delivered()) == 1 }, "delivered after the wait")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, times, 2)
	require.GreaterOrEqual(t, times[1].Sub(times[0]), 900*time.Millisecond,
		"the second attempt waits for Retry-After (1s), not the 20ms schedule")
}

func TestPushGoneDisablesTheSubscription(t *testing.T) {
	t.Parallel()
	gone := true
	var mu sync.Mutex
	rc := newReceiver(t, func(int, cloudevents.Event, http.ResponseWriter) int {
		mu.Lock()
		defer mu.Unlock()
		if gone {
			return http.StatusGone
		}
		return http.StatusOK
	})
	b := start(t, withSubs(t, map[string]*config.Subscription{"old": pushSub(rc.srv.URL, "order.created")}))
	b.sendShop(t, `{"a":1}`, "m-gone")
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool {
		return getJSON(t, b.base+"/v1/subscriptions/old").body["state"] == "disabled"
	}, "410 disables the subscription")
	v := getJSON(t, b.base+"/v1/subscriptions/old")
	require.Contains(t, v.body["reason"], "410 Gone")
	b.sendShop(t, `{"a":2}`, "m-gone-2")
	require.Equal(t, 1, rc.attempts(), "a disabled subscription makes no attempts")

	mu.Lock()
	gone = false
	mu.Unlock()
	r := do(t, apiRequest(t, "POST", b.base+"/v1/subscriptions/old/resume", adminSecret, "", ""))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rc.delivered()) == 2 }, "resumed: both events arrive")
}

func TestMaxAttemptsMakesADeadLetter(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(int, cloudevents.Event, http.ResponseWriter) int { return http.StatusInternalServerError })
	sub := pushSub(rc.srv.URL, "order.created")
	sub.Push.MaxAttempts = 3
	b := start(t, withSubs(t, map[string]*config.Subscription{"broken": sub}))
	id := b.sendShop(t, `{"a":1}`, "m-dead").body["id"].(string)

	var dls []any
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool {
		dls, _ = getJSON(t, b.base+"/v1/deadletters?subscription=broken").body["dead_letters"].([]any)
		return len(dls) == 1
	}, "the event becomes a dead letter")
	dl := dls[0].(map[string]any)
	require.Equal(t, id, dl["event_id"])
	require.Equal(t, "undeliverable", dl["kind"])
	require.Contains(t, dl["reason"], "all 3 attempts failed")
	require.Contains(t, dl["guidance"], "logs")
	require.Equal(t, "HTTP 500 Internal Server Error", dl["last_error"])
	require.Len(t, dl["attempts"], 3, "the dead letter keeps every attempt")
	require.Equal(t, id, dl["event"].(map[string]any)["id"], "and the event itself")

	one := getJSON(t, b.base+"/v1/deadletters/"+dl["id"].(string))
	require.Equal(t, http.StatusOK, one.status)
	require.Equal(t, http.StatusNotFound, getJSON(t, b.base+"/v1/deadletters/nope").status)
	require.Equal(t, 3, rc.attempts(), "no attempt after the last")
}

func TestFilterSelectsEvents(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	sub := pushSub(rc.srv.URL, "order.*")
	sub.Filter = "has(data.total) && data.total > 100"
	b := start(t, withSubs(t, map[string]*config.Subscription{"big": sub}))
	b.sendShop(t, `{"total":50}`, "f1")
	b.sendShop(t, `{"total":150}`, "f2")
	b.sendShop(t, `{"note":"no total"}`, "f3")
	b.sendShop(t, `{"total":101}`, "f4")
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rc.delivered()) == 2 }, "the two big orders arrive")
	weirtest.EventuallyTrue(t, 5*time.Second, func() bool {
		return strings.Contains(string(do(t, mustGet(t, b.base+"/metrics")).raw), `weir_deliveries_total{outcome="filtered",subscription="big"} 2`)
	}, "the others are skipped")
	for _, ev := range rc.delivered() {
		var d map[string]float64
		require.NoError(t, ev.DataAs(&d))
		require.Greater(t, d["total"], 100.0)
	}
}

func TestBreakerOpensAndCloses(t *testing.T) {
	t.Parallel()
	failing := true
	var mu sync.Mutex
	rc := newReceiver(t, func(int, cloudevents.Event, http.ResponseWriter) int {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	sub := pushSub(rc.srv.URL, "order.created")
	sub.Push.MaxAttempts = 50
	sub.Push.Breaker = config.Breaker{Threshold: 3, Cooldown: config.Duration(300 * time.Millisecond)}
	b := start(t, withSubs(t, map[string]*config.Subscription{"flaky": sub}))
	b.sendShop(t, `{"a":1}`, "b1")

	breaker := func() string {
		v := getJSON(t, b.base+"/v1/subscriptions/flaky")
		return v.body["breaker"].(map[string]any)["state"].(string)
	}
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return breaker() == "open" }, "the breaker opens after 3 failures")
	require.Contains(t, string(do(t, mustGet(t, b.base+"/metrics")).raw), `weir_subscription_breaker_state{subscription="flaky"}`)
	opened := rc.attempts()
	mu.Lock()
	failing = false
	mu.Unlock()
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return len(rc.delivered()) == 1 }, "a probe gets through once the endpoint is back")
	weirtest.EventuallyTrue(t, 5*time.Second, func() bool { return breaker() == "closed" }, "and the breaker closes")
	require.GreaterOrEqual(t, opened, 3)
}

func TestOrderedDeliveryPerKey(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	failedOnce := map[string]bool{}
	rc := newReceiver(t, func(_ int, ev cloudevents.Event, _ http.ResponseWriter) int {
		mu.Lock()
		defer mu.Unlock()
		var d map[string]any
		_ = ev.DataAs(&d)
		// Every third event fails once: its retry must not be overtaken.
		if n := int(d["n"].(float64)); n%3 == 0 && !failedOnce[ev.ID()] {
			failedOnce[ev.ID()] = true
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	sub := pushSub(rc.srv.URL, "order.>")
	sub.Push.Ordered = true
	sub.Push.MaxInFlight = 8
	b := start(t, withSubs(t, map[string]*config.Subscription{"ledger": sub}))

	const keys, perKey = 5, 20
	var wg sync.WaitGroup
	for k := range keys {
		wg.Go(func() {
			for n := range perKey {
				body := fmt.Sprintf(`{"specversion":"1.0","id":"k%d-%d","source":"/apps/ledger","type":"order.booked","partitionkey":"key-%d","data":{"key":%d,"n":%d}}`, k, n, k, k, n)
				r := do(t, apiRequest(t, "POST", b.base+"/v1/events", adminSecret, "application/cloudevents+json", body))
				if r.status != http.StatusAccepted {
					t.Errorf("publish: %d %s", r.status, r.raw)
				}
			}
		})
	}
	wg.Wait()
	weirtest.EventuallyTrue(t, 20*time.Second, func() bool { return len(rc.delivered()) >= keys*perKey }, "every event arrives")
	last := map[float64]float64{}
	for k := range keys {
		last[float64(k)] = -1
	}
	for _, ev := range rc.delivered() {
		var d map[string]float64
		require.NoError(t, ev.DataAs(&d))
		require.Greater(t, d["n"], last[d["key"]], "events of key %v arrive in order", d["key"])
		last[d["key"]] = d["n"]
	}
}

func TestPullAckNackRedelivery(t *testing.T) {
	t.Parallel()
	b := start(t, withSubs(t, map[string]*config.Subscription{
		"dash": {Types: []string{"order.created"}, Pull: &config.Pull{AckWait: config.Duration(time.Second)}},
	}))
	id := b.sendShop(t, `{"a":1}`, "p1").body["id"].(string)
	url := b.base + "/v1/subscriptions/dash/events?max=10&wait=5s"

	fetch := func() []any {
		r := do(t, apiRequest(t, "GET", url, adminSecret, "", ""))
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		evs, _ := r.body["events"].([]any)
		return evs
	}
	evs := fetch()
	require.Len(t, evs, 1)
	first := evs[0].(map[string]any)
	require.Equal(t, id, first["event"].(map[string]any)["id"])
	require.EqualValues(t, 1, first["attempt"])

	// Not acknowledged: it comes back after ack_wait.
	evs = fetch()
	require.Len(t, evs, 1)
	again := evs[0].(map[string]any)
	require.EqualValues(t, 2, again["attempt"])

	// Nacked with a delay: it comes back after the delay.
	ack := func(body string) response {
		return do(t, apiRequest(t, "POST", b.base+"/v1/subscriptions/dash/ack", adminSecret, "application/json", body))
	}
	r := ack(`{"acks":[{"ack_id":"` + again["ack_id"].(string) + `","nack":true,"delay":"200ms"}]}`)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	evs = fetch()
	require.Len(t, evs, 1)
	third := evs[0].(map[string]any)
	require.EqualValues(t, 3, third["attempt"])

	r = ack(`{"acks":[{"ack_id":"` + third["ack_id"].(string) + `"}]}`)
	require.Equal(t, http.StatusOK, r.status)
	r = do(t, apiRequest(t, "GET", b.base+"/v1/subscriptions/dash/events?max=10&wait=1500ms", adminSecret, "", ""))
	require.Empty(t, r.body["events"], "acknowledged: it does not come back")

	r = ack(`{"acks":[{"ack_id":"bm90LWFuLWFjaw"}]}`)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "acks[0].ack_id", r.body["field"])
	r = do(t, apiRequest(t, "GET", b.base+"/v1/subscriptions/dash/events?wait=forever", adminSecret, "", ""))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "wait", r.body["field"])
}

// sseEvent is one server-sent event.
type sseEvent struct{ id, data string }

func readSSE(t *testing.T, ctx context.Context, url, lastID string, n int) []sseEvent {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	require.NoError(t, err)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		case line == "" && cur.id != "":
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	return out
}

func TestSSEResumesAfterLastEventID(t *testing.T) {
	t.Parallel()
	b := start(t, withSubs(t, map[string]*config.Subscription{
		"ui": {Types: []string{"order.created"}, Pull: &config.Pull{}},
	}))
	var ids []string
	for i := range 4 {
		ids = append(ids, b.sendShop(t, fmt.Sprintf(`{"n":%d}`, i), fmt.Sprintf("s%d", i)).body["id"].(string))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := b.base + "/v1/subscriptions/ui/stream?access_token=" + adminSecret
	got := readSSE(t, ctx, url, ids[1], 2)
	require.Len(t, got, 2)
	require.Equal(t, ids[2], got[0].id, "the stream resumes right after Last-Event-ID")
	require.Equal(t, ids[3], got[1].id)
	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(got[0].data), &ev))
	require.Equal(t, ids[2], ev["id"])

	// Without a Last-Event-ID the stream carries new events only.
	done := make(chan []sseEvent, 1)
	go func() { done <- readSSE(t, ctx, url, "", 1) }()
	weirtest.EventuallyTrue(t, 5*time.Second, func() bool {
		b.sendShop(t, `{"n":"live"}`, fmt.Sprintf("live-%d", time.Now().UnixNano()))
		select {
		case got := <-done:
			done <- got
			return true
		default:
			return false
		}
	}, "a live event is streamed")
	live := <-done
	require.NotContains(t, ids, live[0].id)

	r := do(t, mustGet(t, b.base+"/v1/subscriptions/ui/stream"))
	require.Equal(t, http.StatusUnauthorized, r.status, "the stream needs a token")
}

package server

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// TestFilterOverItsBoundsMakesADeadLetter: an event on which a push
// subscription's filter goes over its bounds (the reported attack: string
// concatenation inside map over a 3,000-item list) is neither delivered nor
// skipped silently: it becomes a dead letter with the reason, and
// weir_filter_errors_total counts it. So does an event whose data the filter
// cannot decode. A missing field stays "not matched".
func TestFilterOverItsBoundsMakesADeadLetter(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	sub := pushSub(rc.srv.URL, "order.*")
	sub.Filter = `data.xs.map(a, data.s + data.s).size() > 0`
	b := start(t, withSubs(t, map[string]*config.Subscription{"costly": sub}))

	attack := `{"xs":[` + strings.TrimSuffix(strings.Repeat(`"abcdefgh",`, 3000), ",") + `],"s":"` + strings.Repeat("a", 100_000) + `"}`
	require.Equal(t, http.StatusAccepted, b.sendShop(t, attack, "m-attack").status)
	require.Equal(t, http.StatusAccepted, b.sendShop(t, `{"note":"no xs"}`, "m-missing").status)
	require.Equal(t, http.StatusAccepted, b.sendShop(t, `{"xs":["a"],"s":"b"}`, "m-small").status)
	outOfRange := b.sendShop(t, `{"xs":[1e999999],"s":"b"}`, "m-range")
	t.Logf("ingress answered %d to a number out of range", outOfRange.status)

	weirtest.EventuallyTrue(t, 20*time.Second, func() bool { return len(rc.delivered()) == 1 }, "the small event is delivered")

	want := 1
	if outOfRange.status == http.StatusAccepted {
		want = 2 // ingress stored it; the filter must not skip it silently
	}
	var dls []any
	weirtest.EventuallyTrue(t, 20*time.Second, func() bool {
		dls, _ = getJSON(t, b.base+"/v1/deadletters?subscription=costly").body["dead_letters"].([]any)
		return len(dls) == want
	}, "the events the filter cannot judge become dead letters")
	reasons := map[string]map[string]any{}
	bigID := ""
	for _, d := range dls {
		dl := d.(map[string]any)
		require.Equal(t, "undeliverable", dl["kind"])
		require.Equal(t, "costly", dl["subscription"])
		if strings.Contains(dl["reason"].(string), "went over the limits") {
			reasons["limit"] = dl
			bigID = dl["event_id"].(string)
		} else {
			reasons["undecodable"] = dl
		}
	}
	require.NotEmpty(t, bigID, "the attack event is a dead letter")
	lim := reasons["limit"]
	require.Contains(t, lim["reason"], "cost limit")
	require.Contains(t, lim["last_error"], "cost limit")
	require.Contains(t, lim["guidance"], "redrive")
	if want == 2 {
		require.Contains(t, reasons["undecodable"]["reason"], "could not read this event's data")
	}

	weirtest.EventuallyTrue(t, 5*time.Second, func() bool {
		m := string(do(t, mustGet(t, b.base+"/metrics")).raw)
		return strings.Contains(m, `weir_filter_errors_total{reason="limit",subscription="costly"} 1`) &&
			strings.Contains(m, `weir_filter_errors_total{reason="evaluation",subscription="costly"} 1`) &&
			strings.Contains(m, `weir_deliveries_total{outcome="filtered",subscription="costly"} 1`) &&
			(want == 1 || strings.Contains(m, `weir_filter_errors_total{reason="undecodable",subscription="costly"} 1`))
	}, "the metrics count the limit, the missing field (skipped) and the undecodable event")
	require.Len(t, rc.delivered(), 1, "nothing the filter could not judge was delivered")
}

// TestFilterOverItsBoundsOnPullAndSSE: a pull subscription dead-letters an
// event its filter cannot judge instead of skipping it, and its SSE view
// leaves the event out with a comment line saying why (it dead-letters
// nothing itself: the subscription's reader does).
func TestFilterOverItsBoundsOnPullAndSSE(t *testing.T) {
	t.Parallel()
	b := start(t, withSubs(t, map[string]*config.Subscription{
		"costly-pull": {Types: []string{"order.created"}, Pull: &config.Pull{}, Filter: `data.xs.map(a, data.s + data.s).size() > 0`},
	}))
	first := b.sendShop(t, `{"xs":["a"],"s":"b"}`, "p0").body["id"].(string)
	attack := `{"xs":[` + strings.TrimSuffix(strings.Repeat(`"abcdefgh",`, 3000), ",") + `],"s":"` + strings.Repeat("a", 100_000) + `"}`
	bigID := b.sendShop(t, attack, "p1").body["id"].(string)
	last := b.sendShop(t, `{"xs":["c"],"s":"d"}`, "p2").body["id"].(string)

	// The SSE view, resumed after the first event.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", b.base+"/v1/subscriptions/costly-pull/stream?access_token="+adminSecret, nil)
	require.NoError(t, err)
	req.Header.Set("Last-Event-ID", first)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var notice, next string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for next == "" && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ": the event "):
			notice = line
		case strings.HasPrefix(line, "id: "):
			next = line[4:]
		}
	}
	require.Contains(t, notice, bigID)
	require.Contains(t, notice, "is left out: filter: the filter exceeded the limits")
	require.Equal(t, last, next, "the view goes on with the next event")

	// The pull subscription hands out the two small events; the attack
	// becomes a dead letter.
	var got []string
	weirtest.EventuallyTrue(t, 20*time.Second, func() bool {
		r := do(t, apiRequest(t, "GET", b.base+"/v1/subscriptions/costly-pull/events?max=10&wait=500ms", adminSecret, "", ""))
		evs, _ := r.body["events"].([]any)
		for _, e := range evs {
			got = append(got, e.(map[string]any)["event"].(map[string]any)["id"].(string))
		}
		return len(got) >= 2
	}, "the small events are handed out")
	require.Equal(t, []string{first, last}, got)
	dls, _ := getJSON(t, b.base+"/v1/deadletters?subscription=costly-pull").body["dead_letters"].([]any)
	require.Len(t, dls, 1)
	require.Equal(t, bigID, dls[0].(map[string]any)["event_id"])
	require.Contains(t, dls[0].(map[string]any)["reason"], "went over the limits")
}

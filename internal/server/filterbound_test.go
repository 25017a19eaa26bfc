package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
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

	eventually(t, 20*time.Second, func() bool { return len(rc.delivered()) == 1 }, "the small event is delivered")

	want := 1
	if outOfRange.status == http.StatusAccepted {
		want = 2 // ingress stored it; the filter must not skip it silently
	}
	var dls []any
	eventually(t, 20*time.Second, func() bool {
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

	eventually(t, 5*time.Second, func() bool {
		m := string(do(t, mustGet(t, b.base+"/metrics")).raw)
		return strings.Contains(m, `weir_filter_errors_total{reason="limit",subscription="costly"} 1`) &&
			strings.Contains(m, `weir_filter_errors_total{reason="evaluation",subscription="costly"} 1`) &&
			strings.Contains(m, `weir_deliveries_total{outcome="filtered",subscription="costly"} 1`) &&
			(want == 1 || strings.Contains(m, `weir_filter_errors_total{reason="undecodable",subscription="costly"} 1`))
	}, "the metrics count the limit, the missing field (skipped) and the undecodable event")
	require.Len(t, rc.delivered(), 1, "nothing the filter could not judge was delivered")
}

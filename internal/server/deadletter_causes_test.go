package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// An attempt shows the request weir sent, signatures but no secret, and the
// answer's headers and body within their bounds.
func TestAttemptShowsRequestAndResponse(t *testing.T) {
	t.Parallel()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 40 {
			w.Header().Set(fmt.Sprintf("X-Header-%02d", i), "v")
		}
		w.Header().Set("X-Long", strings.Repeat("a", 1000))
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(strings.Repeat("€", 1000))) // 3 bytes each
	}))
	t.Cleanup(app.Close)
	sub := pushSub(app.URL+"/hooks", "order.created")
	sub.Push.MaxAttempts = 1
	b := start(t, withSubs(t, map[string]*config.Subscription{"s": sub}))
	b.sendShop(t, `{"total":1}`, "att1")

	var raw []byte
	weirtest.EventuallyTrue(t, 15*time.Second, func() bool {
		r := getJSON(t, b.base+"/v1/subscriptions/s/attempts")
		raw = r.raw
		return r.status == http.StatusOK && len(r.body["attempts"].([]any)) == 1
	}, "one attempt is recorded")
	var got struct {
		Attempts []struct {
			Status  int `json:"status"`
			Request struct {
				Method  string              `json:"method"`
				URL     string              `json:"url"`
				Headers map[string][]string `json:"headers"`
			} `json:"request"`
			ResponseHeaders map[string][]string `json:"response_headers"`
			Response        string              `json:"response"`
		} `json:"attempts"`
	}
	require.NoError(t, json.Unmarshal(raw, &got))
	at := got.Attempts[0]
	require.Equal(t, http.StatusInternalServerError, at.Status)
	require.Equal(t, "POST", at.Request.Method)
	require.Equal(t, app.URL+"/hooks", at.Request.URL)
	h := http.Header(at.Request.Headers)
	require.True(t, strings.HasPrefix(h.Get("Webhook-Signature"), "v1,"), "the signature is shown: %v", h)
	require.NotEmpty(t, h.Get("Webhook-Id"))
	require.Equal(t, "application/cloudevents+json", h.Get("Content-Type"))
	require.NotContains(t, string(raw), strings.TrimPrefix(subSecret, "whsec_"), "the secret is never shown")

	require.Len(t, at.ResponseHeaders, 32, "answer headers are capped")
	for k, vs := range at.ResponseHeaders {
		for _, v := range vs {
			require.LessOrEqual(t, len(v), 256, k)
		}
	}
	require.Equal(t, 341*3, len(at.Response), "the first KiB, cut at a whole character")
	require.True(t, utf8.ValidString(at.Response))

	// The dead letter carries the same exchange.
	var dl []map[string]any
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { dl = deadLetters(t, b, "subscription=s"); return len(dl) == 1 }, "a dead letter")
	last := dl[0]["attempts"].([]any)[0].(map[string]any)
	require.NotNil(t, last["request"])
	require.NotNil(t, last["response_headers"])
}

// closedURL is an address where nothing listens.
func closedURL(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

// group is one entry of GET /v1/deadletters/groups.
type group struct {
	Cause     string            `json:"cause"`
	Label     string            `json:"label"`
	Guidance  string            `json:"guidance"`
	Count     int               `json:"count"`
	ExampleID string            `json:"example_id"`
	Filter    map[string]string `json:"filter"`
}

type grouping struct {
	Groups    []group `json:"groups"`
	Scanned   int     `json:"scanned"`
	Truncated bool    `json:"truncated"`
}

func groupsOf(t *testing.T, b *bundle, tok, query string) grouping {
	t.Helper()
	r := getJSON2(t, b.base+"/v1/deadletters/groups?"+query, tok)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	var g grouping
	require.NoError(t, json.Unmarshal(r.raw, &g))
	return g
}

func idsOf(ds []map[string]any) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d["id"].(string))
	}
	slices.Sort(out)
	return out
}

// Dead letters group by cause; a group's filter lists and redrives exactly
// that group, a dry run changes nothing, and a token sees only its groups.
func TestDeadLetterGroupsDryRunAndCauseFilter(t *testing.T) {
	t.Parallel()
	refuses := newReceiver(t, func(int, cloudevents.Event, http.ResponseWriter) int { return http.StatusUnauthorized })
	ord, inv := pushSub(refuses.srv.URL, "order.*"), pushSub(closedURL(t), "invoice.*")
	ord.Push.MaxAttempts, inv.Push.MaxAttempts = 1, 1
	cfg := authzConfig(t, map[string]*config.Subscription{"ord": ord, "inv": inv})
	withContracts(t, cfg, map[string]string{"payment.made": orderSchemaV1})
	b := start(t, cfg)
	for i := range 3 {
		publish(t, b, fmt.Sprintf("o%d", i), "order.created")
	}
	for i := range 2 {
		publish(t, b, fmt.Sprintf("i%d", i), "invoice.sent")
		ev := fmt.Sprintf(`{"specversion":"1.0","id":"p%d","source":"/tests/pay","type":"payment.made","data":{"order":1,"total":-1}}`, i)
		r := do(t, apiRequest(t, "POST", b.base+"/v1/events", adminSecret, "application/cloudevents+json", ev))
		require.Less(t, r.status, 300, string(r.raw))
	}
	weirtest.EventuallyTrue(t, 20*time.Second, func() bool { return len(deadLetters(t, b, "")) == 7 }, "seven dead letters")

	g := groupsOf(t, b, adminSecret, "")
	require.False(t, g.Truncated)
	require.Equal(t, 7, g.Scanned)
	byCause := map[string]group{}
	for _, gr := range g.Groups {
		byCause[gr.Cause] = gr
	}
	require.Len(t, byCause, 3, "%+v", g.Groups)
	require.Equal(t, 3, byCause["http:401"].Count)
	require.Contains(t, byCause["http:401"].Label, "401")
	require.Equal(t, 2, byCause["error:refused"].Count)
	require.Contains(t, byCause["error:refused"].Label, "connection refused")
	require.Equal(t, 2, byCause["contract:minimum:/total"].Count)
	require.Contains(t, byCause["contract:minimum:/total"].Label, "/total")
	require.Equal(t, "http:401", g.Groups[0].Cause, "the largest first")
	for _, gr := range g.Groups {
		require.NotEmpty(t, gr.Guidance)
		require.Equal(t, map[string]string{"cause": gr.Cause}, gr.Filter)
	}
	refused := deadLetters(t, b, "cause=error:refused")
	require.Len(t, refused, 2)
	for _, d := range refused {
		require.Equal(t, "inv", d["subscription"])
	}
	// Filters combine: the group of one subscription.
	require.Equal(t, map[string]string{"cause": "http:401", "subscription": "ord"}, groupsOf(t, b, adminSecret, "subscription=ord").Groups[0].Filter)

	// A token sees only the groups of the dead letters it may handle.
	og := groupsOf(t, b, orderReaderSecret, "")
	require.Len(t, og.Groups, 1)
	require.Equal(t, "http:401", og.Groups[0].Cause)
	require.Equal(t, 3, og.Groups[0].Count)
	require.Empty(t, groupsOf(t, b, nobodySecret, "").Groups)
	r := getJSON2(t, b.base+"/v1/deadletters/groups?subscription=inv", orderReaderSecret)
	require.Equal(t, http.StatusForbidden, r.status)

	// The scan is bounded, and says so.
	small := groupsOf(t, b, adminSecret, "max_scan=2")
	require.True(t, small.Truncated)
	require.Equal(t, 2, small.Scanned)
	require.Equal(t, http.StatusBadRequest, getJSON(t, b.base+"/v1/deadletters/groups?max_scan=10001").status)

	// A dry run counts and changes nothing.
	body, err := json.Marshal(map[string]any{"cause": "error:refused", "dry_run": true})
	require.NoError(t, err)
	r = postJSON(t, b.base+"/v1/deadletters/redrive", string(body))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.EqualValues(t, 2, r.body["would_redrive"])
	sample := []string{}
	for _, id := range r.body["sample"].([]any) {
		sample = append(sample, id.(string))
	}
	slices.Sort(sample)
	require.Equal(t, idsOf(refused), sample)
	require.Len(t, deadLetters(t, b, ""), 7, "nothing changed")
	require.Empty(t, deadLetters(t, b, "status=redriven"))
	r = do(t, apiRequest(t, "POST", b.base+"/v1/deadletters/redrive", orderReaderSecret, "application/json", `{"dry_run":true}`))
	require.EqualValues(t, 3, r.body["would_redrive"], "a dry run counts only what the token may redrive")

	// The group's own filter redrives that group alone.
	body, err = json.Marshal(byCause["error:refused"].Filter)
	require.NoError(t, err)
	r = postJSON(t, b.base+"/v1/deadletters/redrive", string(body))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.Len(t, r.body["redriven"], 2)
	require.Equal(t, idsOf(refused), idsOf(deadLetters(t, b, "status=redriven")))
	require.Len(t, deadLetters(t, b, "cause=http:401"), 3)
	require.Len(t, deadLetters(t, b, "cause="+url.QueryEscape("contract:minimum:/total")), 2)
}

package server

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// POST /v1/filters/preview counts what a filter selects among the latest
// events, for tokens that may subscribe to the types.
func TestFilterPreviewRoute(t *testing.T) {
	t.Parallel()
	b := start(t, authzConfig(t, nil))
	for i := range 8 {
		ev := fmt.Sprintf(`{"specversion":"1.0","id":"pv%d","source":"/tests/preview","type":"order.created","data":{"total":%d}}`, i, i*10)
		r := do(t, apiRequest(t, "POST", b.base+"/v1/events", adminSecret, "application/cloudevents+json", ev))
		require.Less(t, r.status, 300, string(r.raw))
	}
	preview := func(tok, body string) response {
		return do(t, apiRequest(t, "POST", b.base+"/v1/filters/preview", tok, "application/json", body))
	}

	r := preview(orderReaderSecret, `{"types":["order.*"],"filter":"data.total > 40","n":5}`)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.EqualValues(t, 5, r.body["examined"], "the latest five: totals 30..70")
	require.EqualValues(t, 3, r.body["matched"])
	require.Equal(t, []any{"pv7", "pv6", "pv5"}, r.body["matched_ids"])
	r = preview(orderReaderSecret, `{"types":["order.created"],"filter":"data.total > 40"}`)
	require.EqualValues(t, 8, r.body["examined"], "n defaults to 50")

	for _, c := range []struct {
		tok, body string
		status    int
		field     string
	}{
		{orderReaderSecret, `{"types":["order.*"],"filter":"data.total >"}`, 400, "filter"},
		{orderReaderSecret, `{"types":["order.*"],"filter":"totl > 1"}`, 400, "filter"},
		{orderReaderSecret, `{"types":["order.*"],"filter":"true","n":101}`, 400, "n"},
		{orderReaderSecret, `{"types":[],"filter":"true"}`, 400, "types"},
		{orderReaderSecret, `{"types":["order..x"],"filter":"true"}`, 400, "types[0]"},
		{orderReaderSecret, `{"types":["order.*","invoice.*"],"filter":"true"}`, 403, "types"},
		{orderReaderSecret, `{"types":[">"],"filter":"true"}`, 403, "types"},
		{nobodySecret, `{"types":["order.created"],"filter":"true"}`, 403, "types"},
		{pubSecret, `{"types":["order.created"],"filter":"true"}`, 403, "types"},
		{orderReaderSecret, `{"types":["order.*"],"filter":"true","extra":1}`, 400, "body"},
	} {
		r := preview(c.tok, c.body)
		require.Equal(t, c.status, r.status, "%s: %s", c.body, r.raw)
		require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
		require.Equal(t, c.field, r.body["field"], c.body)
	}
	r = preview(orderReaderSecret, `{"types":["order.*"],"filter":"totl > 1"}`)
	require.Contains(t, r.body["detail"], "data", "the hint lists the variables")
}

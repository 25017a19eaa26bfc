package server

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// A subscription's patterns where one covers another become one bus filter
// (the bus refuses overlapping ones); patterns that overlap only in part are
// refused naming the field, not answered as if the bus were away.
func TestOverlappingTypePatterns(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	r := do(t, apiRequest(t, "POST", b.base+"/v1/subscriptions", adminSecret, "application/json",
		`{"name":"covered","types":["order.*","order.created","order.*"],"pull":{}}`))
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	require.Equal(t, http.StatusAccepted, b.sendShop(t, `{"n":1}`, "ov-1").status)
	r = do(t, apiRequest(t, "GET", b.base+"/v1/subscriptions/covered/events?max=10&wait=5s", adminSecret, "", ""))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	events, _ := r.body["events"].([]any)
	require.Len(t, events, 1, "delivered once: %s", r.raw)

	r = do(t, apiRequest(t, "POST", b.base+"/v1/subscriptions", adminSecret, "application/json",
		`{"name":"partial","types":["order.*","*.created"],"pull":{}}`))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "types[1]", r.body["field"])
	require.Contains(t, r.body["detail"], "overlap in part")
}

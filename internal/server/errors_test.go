package server

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// A replay from the archive on a node without one is the client's fault, in
// the request's from_archive field: a 400 naming that field, with a sentence
// as detail.
func TestReplayFromArchiveWithoutArchiveNamesTheField(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Archive.Disabled = true
	b := start(t, cfg)
	url := b.base + "/v1/subscriptions"
	r := do(t, apiRequest(t, "POST", url, adminSecret, "application/json", `{"name":"orders","types":["order.*"],"pull":{}}`))
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))

	r = do(t, apiRequest(t, "POST", url+"/orders/replay", adminSecret, "application/json",
		fmt.Sprintf(`{"from":%q,"from_archive":true}`, since(time.Hour))))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "https://weir.dev/problems/invalid-replay", r.body["type"])
	require.Equal(t, "from_archive", r.body["field"])
	require.Equal(t, "from_archive: no archive is configured", r.body["detail"])
}

// A subscription the bus cannot store is the bus's fault, not the
// definition's: 503 bus-unavailable with Retry-After, not 400
// invalid-subscription, and the bus's own error text stays in the log.
func TestCreateSubscriptionWhileTheBusIsDownIs503(t *testing.T) {
	t.Parallel()
	ns := runNATS(t, -1, t.TempDir())
	cfg := testConfig(t)
	cfg.Bus.URL = ns.ClientURL()
	cfg.Bus.PublishTimeout = 2 * time.Second
	b := start(t, cfg)

	url := b.base + "/v1/subscriptions"
	r := do(t, apiRequest(t, "POST", url, adminSecret, "application/json", `{"name":"before","types":["order.*"],"pull":{}}`))
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))

	ns.Shutdown()
	ns.WaitForShutdown()
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return !b.srv.Bus().Connected() }, "weir notices the outage")

	r = do(t, apiRequest(t, "POST", url, adminSecret, "application/json", `{"name":"during","types":["order.*"],"pull":{}}`))
	require.Equal(t, http.StatusServiceUnavailable, r.status, string(r.raw))
	require.Equal(t, "https://weir.dev/problems/bus-unavailable", r.body["type"])
	require.Equal(t, "5", r.header.Get("Retry-After"))
	require.NotContains(t, r.body, "field")
	require.NotContains(t, string(r.raw), "nats", "the bus's error text is for the log, not the client")

	// A bad definition is still the definition's fault, bus or no bus: its
	// field is named, not cut out of the message.
	r = do(t, apiRequest(t, "POST", url, adminSecret, "application/json", `{"name":"bad","types":["order.*"],"push":{"url":"ftp://x"}}`))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "push.url", r.body["field"])
}

// Retention and ack refusals name their field from the error's value: the
// path survives even where the message holds more than one colon.
func TestRetentionAndAckRefusalsNameTheField(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	for body, want := range map[string]string{
		`{"max_age":"0s"}`:                "max_age",
		`{"max_age":"1h","max_bytes":-1}`: "max_bytes",
		`{"max_age":"1h","rules":[{"pattern":"order.*","max_age":"0s"}]}`: "rules[0].max_age",
	} {
		r := do(t, apiRequest(t, "PUT", b.base+"/v1/retention", adminSecret, "application/json", body))
		require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
		require.Equal(t, "https://weir.dev/problems/invalid-retention", r.body["type"])
		require.Equal(t, want, r.body["field"], body)
		require.Equal(t, want+": ", r.body["detail"].(string)[:len(want)+2])
	}

	url := b.base + "/v1/subscriptions"
	r := do(t, apiRequest(t, "POST", url, adminSecret, "application/json", `{"name":"orders","types":["order.*"],"pull":{}}`))
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	r = do(t, apiRequest(t, "POST", url+"/orders/ack", adminSecret, "application/json", `{"acks":[{"ack_id":"bm9wZQ","nack":true,"delay":"1:2:3"}]}`))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "acks[0].ack_id", r.body["field"])
}

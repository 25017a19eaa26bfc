package server

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// A publisher manages the sources of its own types, and only those.
func TestAPublisherManagesSourcesOfItsOwnTypes(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	pub := func(method, path, body string) response {
		return do(t, apiRequest(t, method, b.base+path, pubSecret, "application/json", body))
	}
	r := pub("POST", "/v1/sources", `{"name":"shop2","type":"order.shipped","verify":{"scheme":"standard-webhooks"}}`)
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	require.NotEmpty(t, r.body["secret"])

	for _, body := range []string{
		`{"name":"pay","type":"payment.settled","verify":{"scheme":"none"}}`,
		`{"name":"any","type_from":"header:X-Kind","type_prefix":"order.","verify":{"scheme":"none"}}`,
		`{"name":"vip","type":"order.vip","priority":"essential","verify":{"scheme":"none"}}`,
	} {
		r = pub("POST", "/v1/sources", body)
		require.Equal(t, http.StatusForbidden, r.status, body)
		require.Equal(t, "type", r.body["field"], body)
	}
	// Its own source: the log, a change within its types, and delete.
	require.Equal(t, http.StatusOK, pub("GET", "/v1/sources/shop2/requests", "").status)
	r = pub("PUT", "/v1/sources/shop2", `{"type":"payment.settled","verify":{"scheme":"standard-webhooks"}}`)
	require.Equal(t, http.StatusForbidden, r.status, "not into a type it may not publish")
	r = pub("PUT", "/v1/sources/shop2", `{"type":"order.sent","verify":{"scheme":"standard-webhooks"}}`)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	// Another's: gh takes its type from a header.
	require.Equal(t, http.StatusForbidden, pub("GET", "/v1/sources/gh/requests", "").status)
	require.Equal(t, http.StatusForbidden, pub("DELETE", "/v1/sources/gh", "").status)
	require.Equal(t, http.StatusNoContent, pub("DELETE", "/v1/sources/shop2", "").status)
}

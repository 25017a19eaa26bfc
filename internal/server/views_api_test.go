package server

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

const (
	viewsSecret  = "test-views-token-0123456789"
	ordersSecret = "test-orders-view-token-0123456789"
	retoolOrigin = "https://retool.example.com"
)

// viewsNode runs a node with a latest view (orders) and a count view
// (per-minute), a token for each reading role, and Retool's origin.
func viewsNode(t *testing.T) *bundle {
	t.Helper()
	cfg := testConfig(t)
	cfg.Server.CORSOrigins = []string{retoolOrigin}
	cfg.Tokens = append(cfg.Tokens,
		config.Token{Name: "dashboards", Secret: viewsSecret, Roles: []string{"read:views"}},
		config.Token{Name: "orders-ui", Secret: ordersSecret, Roles: []string{"read:views:orders"}})
	cfg.Views = map[string]*config.View{
		"orders":     {Kind: "latest", Types: []string{"order.*"}, Key: "/id", Fields: map[string]string{"status": "/status"}},
		"per-minute": {Kind: "count", Types: []string{"order.*"}, By: []string{"type"}, Every: config.Duration(time.Minute)},
	}
	require.NoError(t, cfg.Validate())
	return start(t, cfg)
}

func (b *bundle) publishOrder(t *testing.T, id, status string, at time.Time) {
	t.Helper()
	ev := fmt.Sprintf(`{"specversion":"1.0","id":"%s-%s","source":"/shop","type":"order.updated","time":"%s","data":{"id":"%s","status":"%s"}}`,
		id, status, at.UTC().Format(time.RFC3339), id, status)
	r := do(t, apiRequest(t, "POST", b.base+"/v1/events", adminSecret, "application/cloudevents+json", ev))
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
}

func TestViewsReadRolesAndNotFound(t *testing.T) {
	t.Parallel()
	b := viewsNode(t)
	at := time.Date(2026, 12, 1, 12, 0, 30, 0, time.UTC)
	b.publishOrder(t, "1042", "paid", at)
	weirtest.Eventually(t, 30*time.Second, func() error {
		r := do(t, apiRequest(t, "GET", b.base+"/v1/views/orders/1042", viewsSecret, "", ""))
		if r.status != http.StatusOK {
			return fmt.Errorf("%d %s", r.status, r.raw)
		}
		return nil
	})
	r := do(t, apiRequest(t, "GET", b.base+"/v1/views/orders/1042", ordersSecret, "", ""))
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "1042", r.body["key"])
	require.Equal(t, map[string]any{"status": "paid"}, r.body["fields"])

	// Unknown key: 404 problem+json.
	r = do(t, apiRequest(t, "GET", b.base+"/v1/views/orders/999", viewsSecret, "", ""))
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	require.Contains(t, r.body["type"], "unknown-view-key")

	// A token without read:views: 403, on every view.
	r = do(t, apiRequest(t, "GET", b.base+"/v1/views/orders/1042", pubSecret, "", ""))
	require.Equal(t, http.StatusForbidden, r.status)
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	// read:views:orders reads orders only.
	r = do(t, apiRequest(t, "GET", b.base+"/v1/views/per-minute/series?from=2026-12-01T12:00:00Z&to=2026-12-01T12:05:00Z", ordersSecret, "", ""))
	require.Equal(t, http.StatusForbidden, r.status)
	r = do(t, apiRequest(t, "GET", b.base+"/v1/views", ordersSecret, "", ""))
	require.Equal(t, http.StatusOK, r.status)
	require.Len(t, r.body["items"], 1)

	// The series of the count view.
	weirtest.Eventually(t, 30*time.Second, func() error {
		r := do(t, apiRequest(t, "GET", b.base+"/v1/views/per-minute/series?from=2026-12-01T12:00:00Z&to=2026-12-01T12:05:00Z&type=order.updated", viewsSecret, "", ""))
		if r.status != http.StatusOK || len(r.body["items"].([]any)) != 1 {
			return fmt.Errorf("%d %s", r.status, r.raw)
		}
		item := r.body["items"].([]any)[0].(map[string]any)
		require.Equal(t, "2026-12-01T12:00:00Z", item["bucket"])
		require.EqualValues(t, 1, item["count"])
		return nil
	})
	r = do(t, apiRequest(t, "GET", b.base+"/v1/views/per-minute/series?from=yesterday", viewsSecret, "", ""))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "from", r.body["field"])
	r = do(t, apiRequest(t, "GET", b.base+"/v1/views/per-minute/series?from=2026-12-01T12:00:00Z&to=2027-12-01T12:00:00Z", viewsSecret, "", ""))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "to", r.body["field"])

	// The listing, and paging bounds.
	r = do(t, apiRequest(t, "GET", b.base+"/v1/views/orders?limit=10&prefix=10", viewsSecret, "", ""))
	require.Equal(t, http.StatusOK, r.status)
	require.Len(t, r.body["items"], 1)
	require.Equal(t, "", r.body["next"])
	r = do(t, apiRequest(t, "GET", b.base+"/v1/views/orders?limit=5000", viewsSecret, "", ""))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "limit", r.body["field"])
	r = do(t, apiRequest(t, "GET", b.base+"/v1/views/nothing/x", viewsSecret, "", ""))
	require.Equal(t, http.StatusNotFound, r.status)

	// Rebuild: admin only; the view answers throughout and comes back whole.
	r = do(t, apiRequest(t, "POST", b.base+"/v1/views/orders/rebuild", viewsSecret, "", ""))
	require.Equal(t, http.StatusForbidden, r.status)
	r = do(t, apiRequest(t, "POST", b.base+"/v1/views/orders/rebuild", adminSecret, "", ""))
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	weirtest.Eventually(t, 30*time.Second, func() error {
		r := do(t, apiRequest(t, "GET", b.base+"/v1/views", adminSecret, "", ""))
		for _, it := range r.body["items"].([]any) {
			if v := it.(map[string]any); v["name"] == "orders" && (v["generation"] == 1.0 || v["rebuilding"] != nil) {
				return fmt.Errorf("%v", v)
			}
		}
		return nil
	})
	r = do(t, apiRequest(t, "GET", b.base+"/v1/views/orders/1042", viewsSecret, "", ""))
	require.Equal(t, http.StatusOK, r.status)
}

func TestViewsCORS(t *testing.T) {
	t.Parallel()
	b := viewsNode(t)
	get := func(origin string) response {
		req := apiRequest(t, "GET", b.base+"/v1/views", viewsSecret, "", "")
		req.Header.Set("Origin", origin)
		return do(t, req)
	}
	preflight := func(origin string) response {
		req, err := http.NewRequest(http.MethodOptions, b.base+"/v1/views/orders/"+url.PathEscape("1042"), nil)
		require.NoError(t, err)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		return do(t, req)
	}

	r := get(retoolOrigin)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, retoolOrigin, r.header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.header.Values("Vary"), "Origin")
	r = preflight(retoolOrigin)
	require.Equal(t, http.StatusNoContent, r.status)
	require.Equal(t, retoolOrigin, r.header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "GET", r.header.Get("Access-Control-Allow-Methods"))
	require.Equal(t, "Authorization", r.header.Get("Access-Control-Allow-Headers"))

	for _, o := range []string{"https://evil.example.com", "https://retool.example.com.evil.com", "null"} {
		r = get(o)
		require.Equal(t, http.StatusOK, r.status)
		for h := range r.header {
			require.NotContains(t, h, "Access-Control", o)
		}
		r = preflight(o)
		for h := range r.header {
			require.NotContains(t, h, "Access-Control", o)
		}
	}
	// The rest of the API has no CORS at all.
	req := apiRequest(t, "GET", b.base+"/v1/whoami", viewsSecret, "", "")
	req.Header.Set("Origin", retoolOrigin)
	r = do(t, req)
	require.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
}

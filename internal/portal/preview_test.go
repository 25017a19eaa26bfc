package portal_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFilterPreviewCountsTheLatestEventsWithTheAPIsRules(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	for i, body := range []string{`{"total": 50}`, `{"total": 150}`, `{"total": 250}`} {
		require.Equal(t, http.StatusAccepted, sendShop(t, n, body, "p-"+string(rune('a'+i))))
	}
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(ordersSecret).status)
	preview := func(types, filter string) (int, map[string]any) {
		a := b.post("/ui/filters/preview", url.Values{"csrf": {b.csrf("/ui/subscriptions/new")}, "types": {types}, "filter": {filter}})
		var out map[string]any
		require.NoError(t, json.Unmarshal([]byte(a.body), &out), a.body)
		return a.status, out
	}
	status, out := preview("order.*", "data.total > 100")
	require.Equal(t, http.StatusOK, status, out)
	require.Equal(t, "matches 2 of the last 3 order.* events", out["text"])

	status, out = preview("order.*", "data.total >")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "filter", out["field"])
	require.NotEmpty(t, out["error"])

	status, out = preview("payment.*", "true")
	require.Equal(t, http.StatusOK, status)
	require.Empty(t, out["text"], "nothing about payment events")
	require.Equal(t, "types", out["field"])

	status, out = preview("order..x", "true")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "types", out["field"])

	// Without the form's CSRF token, nothing runs.
	a := b.post("/ui/filters/preview", url.Values{"types": {"order.*"}, "filter": {"true"}})
	require.Equal(t, http.StatusForbidden, a.status)
}

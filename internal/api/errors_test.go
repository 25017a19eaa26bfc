package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/field"
)

// answer runs writeError on err and returns the status, header, decoded body
// and what was logged.
func answer(t *testing.T, err error) (int, http.Header, map[string]any, string) {
	t.Helper()
	var logged bytes.Buffer
	a := &API{log: slog.New(slog.NewJSONHandler(&logged, nil))}
	rec := httptest.NewRecorder()
	a.writeError(rec, httptest.NewRequest(http.MethodPost, "/v1/things", nil), "invalid-thing", err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	return rec.Code, rec.Header(), body, logged.String()
}

func TestWriteErrorInternalCarriesACorrelationIDNotTheCause(t *testing.T) {
	t.Parallel()
	cause := errors.New("open /var/lib/weir/secret.db: permission denied")
	status, _, body, logged := answer(t, fmt.Errorf("loading: %w", cause))

	require.Equal(t, http.StatusInternalServerError, status)
	require.Equal(t, "https://weir.dev/problems/internal", body["type"])
	raw, _ := json.Marshal(body)
	require.NotContains(t, string(raw), "/var/lib/weir", "the cause is not sent to the client")
	require.NotContains(t, string(raw), "permission denied")

	id, _ := body["correlation_id"].(string)
	require.Len(t, id, 32, "a random id the client can quote")
	require.Contains(t, body["detail"], id)
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(logged), &line), logged)
	require.Equal(t, id, line["correlation_id"], "the log has the same id")
	require.Equal(t, "loading: "+cause.Error(), line["error"], "and the cause under it")
	require.Equal(t, "/v1/things", line["path"])

	_, _, again, _ := answer(t, cause)
	require.NotEqual(t, id, again["correlation_id"], "each answer has its own id")
}

func TestWriteErrorFieldIs400NamingTheField(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("creating: %w", field.Errorf("push.url", "%q is not an http(s) URL", "ftp://x"))
	status, _, body, _ := answer(t, err)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "https://weir.dev/problems/invalid-thing", body["type"])
	require.Equal(t, "push.url", body["field"])
	require.Equal(t, `push.url: "ftp://x" is not an http(s) URL`, body["detail"])
}

func TestWriteErrorBusUnavailableIs503(t *testing.T) {
	t.Parallel()
	status, h, body, logged := answer(t, bus.Unavailable("storing the subscription", errors.New("nats: connection closed")))
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, "https://weir.dev/problems/bus-unavailable", body["type"])
	require.Equal(t, "5", h.Get("Retry-After"))
	require.NotContains(t, body["detail"], "nats:")
	require.Contains(t, logged, "nats: connection closed")
}

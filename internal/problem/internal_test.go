package problem

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInternalSendsAnIDAndLogsTheCause(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	cause := errors.New("contract order.created version 3: jsonschema: compiling weir:///schema.json")

	rec := httptest.NewRecorder()
	Internal(context.Background(), log, "contract-error", cause).WithField("type").Write(rec, httptest.NewRequest(http.MethodPost, "/in/shop", nil))

	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.NotContains(t, rec.Body.String(), "jsonschema", "no internal text for the client")
	var body Problem
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Equal(t, TypeBase+"contract-error", body.Type)
	require.Len(t, body.CorrelationID, 32)
	require.True(t, strings.HasSuffix(body.Detail, body.CorrelationID), body.Detail)

	var line map[string]any
	require.NoError(t, json.Unmarshal(logged.Bytes(), &line))
	require.Equal(t, "ERROR", line["level"])
	require.Equal(t, body.CorrelationID, line["correlation_id"])
	require.Equal(t, cause.Error(), line["error"])
}

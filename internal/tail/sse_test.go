package tail_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/tail"
)

func TestPatternsSplitsCommasAndDropsBlanks(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"order.*", "payment.>", "a.b"}, tail.Patterns([]string{" order.* , payment.>,,", "a.b", " "}))
	require.Empty(t, tail.Patterns(nil))
}

func TestSSEFramesEachLineAsData(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	out, ok := tail.StartSSE(rec, []string{"order.*", "x.y"})
	require.True(t, ok)
	require.NoError(t, out.Send(42, []byte("{\r\n\"id\":\"1\"\n}")))
	require.NoError(t, out.Heartbeat())
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "text/event-stream", rec.Header().Get("Content-Type"))
	require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	require.Equal(t, ": weir live tail of order.*,x.y\n\n"+
		"id: 42\nevent: cloudevent\ndata: {\ndata: \"id\":\"1\"\ndata: }\n\n"+
		": heartbeat\n\n", rec.Body.String())
}

package tail_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/field"
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

func TestResumeAfterPrefersLastEventID(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "/?since=7", nil)
	n, err := tail.ResumeAfter(r)
	require.NoError(t, err)
	require.EqualValues(t, 7, n)
	r.Header.Set("Last-Event-ID", "9")
	n, err = tail.ResumeAfter(r)
	require.NoError(t, err)
	require.EqualValues(t, 9, n)
	r.Header.Set("Last-Event-ID", strings.Repeat("x", 500))
	_, err = tail.ResumeAfter(r)
	var fe *field.Error
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "Last-Event-ID", fe.Path)
	require.Less(t, len(fe.Error()), 200, "the sender's value is cut short")
}

// FuzzTailInput: the types and since parameters come from anyone with a
// session or a token; neither may panic, and every pattern is trimmed,
// non-empty and free of commas.
func FuzzTailInput(f *testing.F) {
	f.Add("order.*, payment.>", "12")
	f.Add(",,", "-1")
	f.Add(" \t", "18446744073709551616")
	f.Fuzz(func(t *testing.T, types, since string) {
		for _, p := range tail.Patterns([]string{types}) {
			if p == "" || p != strings.TrimSpace(p) || strings.Contains(p, ",") {
				t.Fatalf("pattern %q from %q", p, types)
			}
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Last-Event-ID", since)
		_, _ = tail.ResumeAfter(r)
	})
}

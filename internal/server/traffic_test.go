package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/traffic"
	"github.com/weir-dev/weir/internal/weirtest"
)

// trafficOf reads GET /v1/traffic with token tok.
func trafficOf(t *testing.T, b *bundle, tok string) map[string]any {
	t.Helper()
	r := do(t, apiRequest(t, "GET", b.base+"/v1/traffic", tok, "", ""))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	return r.body
}

// keys lists the keys of a list of series in an answer of GET /v1/traffic.
func keys(body map[string]any, list string) []string {
	var out []string
	items, _ := body[list].([]any)
	for _, it := range items {
		out = append(out, it.(map[string]any)["key"].(string))
	}
	return out
}

func TestTrafficIsCountedAndScopedToTheToken(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	b := start(t, authzConfig(t, map[string]*config.Subscription{"orders": pushSub(rc.srv.URL, "order.created")}))
	publish(t, b, "t-1", "order.created")
	publish(t, b, "t-2", "order.created")
	publish(t, b, "t-3", "payment.captured")
	// A duplicate stores nothing and counts nothing.
	publish(t, b, "t-3", "payment.captured")

	s, ok := b.srv.Traffic().Get(traffic.Types, "order.created")
	require.True(t, ok)
	require.EqualValues(t, 2, s.Total)
	require.EqualValues(t, 2, s.PerMinute[traffic.Minutes-1], "counted in the current minute")
	require.EqualValues(t, 3, b.srv.Traffic().Totals().Accepted)

	weirtest.Eventually(t, 10*time.Second, func() error {
		if n := b.srv.Traffic().Totals().Deliveries["delivered"]; n != 2 {
			return fmt.Errorf("%d deliveries counted as delivered, want 2", n)
		}
		return nil
	})

	admin := trafficOf(t, b, adminSecret)
	require.Equal(t, []string{"order.created", "payment.captured"}, keys(admin, "types"))
	require.Equal(t, []string{"/tests/authz"}, keys(admin, "sources"))
	require.Contains(t, keys(admin, "deliveries"), "delivered")
	require.EqualValues(t, 60, admin["minutes"])
	first := admin["types"].([]any)[0].(map[string]any)
	require.Len(t, first["per_minute"], 60)
	require.NotEmpty(t, first["last_seen"], "the bus knows when order.created was stored")

	reader := trafficOf(t, b, orderReaderSecret) // subscribe:order.*
	require.Equal(t, []string{"order.created"}, keys(reader, "types"), "payment.captured is hidden")
	require.Empty(t, keys(reader, "sources"), "a token bound to no source sees none")
	require.NotContains(t, reader, "deliveries")
	require.NotContains(t, reader, "totals")

	publisher := trafficOf(t, b, pubSecret) // publish:order.*
	require.Equal(t, []string{"order.created"}, keys(publisher, "types"))

	require.Empty(t, keys(trafficOf(t, b, nobodySecret), "types"))

	r := do(t, apiRequest(t, "GET", b.base+"/v1/traffic?top=abc", adminSecret, "", ""))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "top", r.body["field"])
}

func TestLastSeenComesFromTheBusAfterARestart(t *testing.T) {
	t.Parallel()
	cfg := authzConfig(t, nil)
	b := start(t, cfg)
	publish(t, b, "r-1", "order.created")
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, b.srv.Stop(stopCtx))

	b = start(t, cfg) // the same data directory
	_, counted := b.srv.Traffic().Get(traffic.Types, "order.created")
	require.False(t, counted, "the counters are this node's since it started")
	seen, err := b.srv.Traffic().LastSeen(t.Context(), []string{"order.created", "never.stored"})
	require.NoError(t, err)
	require.Contains(t, seen, "order.created")
	require.NotContains(t, seen, "never.stored")
}

// tailStream reads server-sent events from a live tail.
type tailStream struct {
	resp *http.Response
	rd   *bufio.Reader
}

type tailEvent struct {
	id   uint64
	data map[string]any
}

// openTail opens GET /v1/events/stream with query q; the request ends with ctx.
func openTail(t *testing.T, ctx context.Context, b *bundle, tok, q string, header http.Header) *tailStream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", b.base+"/v1/events/stream?"+q, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return &tailStream{resp: resp, rd: bufio.NewReader(resp.Body)}
}

// next reads the next event, skipping comments (the greeting, heartbeats).
func (s *tailStream) next(t *testing.T) tailEvent {
	t.Helper()
	var ev tailEvent
	var data strings.Builder
	for {
		line, err := s.rd.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && data.Len() > 0:
			require.NoError(t, json.Unmarshal([]byte(data.String()), &ev.data))
			return ev
		case strings.HasPrefix(line, "id: "):
			ev.id, err = strconv.ParseUint(line[4:], 10, 64)
			require.NoError(t, err)
		case strings.HasPrefix(line, "data: "):
			data.WriteString(line[6:] + "\n")
		}
	}
}

func TestTailDeliversMatchingTypesInOrder(t *testing.T) {
	t.Parallel()
	b := start(t, authzConfig(t, nil))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// The reader is open once the answer's headers are here: events stored
	// from then on are followed.
	s := openTail(t, ctx, b, orderReaderSecret, "types=order.*,order.created&types=order.paid", nil)
	require.Equal(t, http.StatusOK, s.resp.StatusCode)
	require.Equal(t, "text/event-stream", s.resp.Header.Get("Content-Type"))
	for i, typ := range []string{"order.created", "payment.captured", "order.paid", "order.shipped"} {
		publish(t, b, "o-"+strconv.Itoa(i), typ)
	}
	var ids []uint64
	for _, want := range []string{"order.created", "order.paid", "order.shipped"} {
		ev := s.next(t)
		require.Equal(t, want, ev.data["type"])
		ids = append(ids, ev.id)
	}
	require.Less(t, ids[0], ids[1])
	require.Less(t, ids[1], ids[2])

	// An EventSource reconnecting sends the last id: the tail resumes after it.
	again := openTail(t, ctx, b, orderReaderSecret, "types=order.*", http.Header{"Last-Event-ID": {strconv.FormatUint(ids[0], 10)}})
	require.Equal(t, http.StatusOK, again.resp.StatusCode)
	ev := again.next(t)
	require.Equal(t, ids[1], ev.id)
	require.Equal(t, "order.paid", ev.data["type"])

	// Browsers give the token in the query; overlapping patterns are matched here.
	third := openTail(t, ctx, b, "", "types=order.*,*.shipped&since="+strconv.FormatUint(ids[0], 10)+"&access_token="+adminSecret, nil)
	require.Equal(t, http.StatusOK, third.resp.StatusCode)
	require.Equal(t, "order.paid", third.next(t).data["type"])
	require.Equal(t, "order.shipped", third.next(t).data["type"])
}

func TestTailRefusals(t *testing.T) {
	t.Parallel()
	b := start(t, authzConfig(t, nil))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, c := range []struct {
		tok, q, header string
		status         int
		field          string
	}{
		{orderReaderSecret, "types=order.*,payment.captured", "", http.StatusForbidden, "types"},
		{orderReaderSecret, "types=>", "", http.StatusForbidden, "types"},
		{orderReaderSecret, "types=order..x", "", http.StatusBadRequest, "types"},
		{orderReaderSecret, "", "", http.StatusBadRequest, "types"},
		{orderReaderSecret, "types=" + strings.Repeat("order.a,", 21), "", http.StatusBadRequest, "types"},
		{orderReaderSecret, "types=order.*&since=-1", "", http.StatusBadRequest, "since"},
		{orderReaderSecret, "types=order.*", "x", http.StatusBadRequest, "Last-Event-ID"},
		{"", "types=order.*", "", http.StatusUnauthorized, "Authorization"},
	} {
		var h http.Header
		if c.header != "" {
			h = http.Header{"Last-Event-ID": {c.header}}
		}
		s := openTail(t, ctx, b, c.tok, c.q, h)
		require.Equal(t, c.status, s.resp.StatusCode, c.q)
		require.Equal(t, "application/problem+json", s.resp.Header.Get("Content-Type"), c.q)
		var p map[string]any
		require.NoError(t, json.NewDecoder(s.resp.Body).Decode(&p))
		require.Equal(t, c.field, p["field"], c.q)
		s.resp.Body.Close()
	}
}

func TestTailCapAnswers429(t *testing.T) {
	t.Parallel()
	b := start(t, authzConfig(t, nil))
	limit := b.srv.Tails().Limits().PerToken
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var open []context.CancelFunc
	for range limit {
		c, stop := context.WithCancel(ctx)
		open = append(open, stop)
		require.Equal(t, http.StatusOK, openTail(t, c, b, orderReaderSecret, "types=order.*", nil).resp.StatusCode)
	}
	s := openTail(t, ctx, b, orderReaderSecret, "types=order.*", nil)
	require.Equal(t, http.StatusTooManyRequests, s.resp.StatusCode)
	require.NotEmpty(t, s.resp.Header.Get("Retry-After"))
	var p map[string]any
	require.NoError(t, json.NewDecoder(s.resp.Body).Decode(&p))
	require.Equal(t, "too-many-tails", problemKind(p["type"]))
	// The cap is the token's: another token still gets a tail.
	require.Equal(t, http.StatusOK, openTail(t, ctx, b, adminSecret, "types=order.*", nil).resp.StatusCode)

	// A client that goes gives its slot back.
	open[0]()
	weirtest.Eventually(t, 10*time.Second, func() error {
		if n := b.srv.Tails().Active(); n != limit {
			return fmt.Errorf("%d tails open, want %d", n, limit)
		}
		return nil
	})
	require.Equal(t, http.StatusOK, openTail(t, ctx, b, orderReaderSecret, "types=order.*", nil).resp.StatusCode)
}

// problemKind is the last segment of a problem type URI.
func problemKind(v any) string {
	s, _ := v.(string)
	return s[strings.LastIndex(s, "/")+1:]
}

func TestTailEndsWhenTheServerStops(t *testing.T) {
	t.Parallel()
	b := start(t, authzConfig(t, nil))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s := openTail(t, ctx, b, adminSecret, "types=>", nil)
	require.Equal(t, http.StatusOK, s.resp.StatusCode)
	stopCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	require.NoError(t, b.srv.Stop(stopCtx), "a graceful stop does not wait for the tail's client")
	_, err := s.rd.ReadString('\n')
	for err == nil {
		_, err = s.rd.ReadString('\n')
	}
	require.False(t, errors.Is(err, context.DeadlineExceeded), "the stream ended, not the test's wait: %v", err)
	require.Zero(t, b.srv.Tails().Active())
}

package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/verify"
	"github.com/weir-dev/weir/internal/weirtest"
)

const listenSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// orderEvent is a delivery as weir's push worker sends it.
const orderEvent = `{"specversion":"1.0","id":"evt-1","source":"/sources/shop","type":"order.created",` +
	`"time":"2026-11-30T21:40:28Z","data":{"order":1042,"total":129.9}}`

// listenBundle is a receiver under test and what it printed.
type listenBundle struct {
	h   http.Handler
	out *weirtest.LockedBuffer
}

func setupListen(t *testing.T, opts listenOptions) *listenBundle {
	t.Helper()
	out := &weirtest.LockedBuffer{}
	h, err := newListener(opts, out)
	require.NoError(t, err)
	return &listenBundle{h: h, out: out}
}

// signed is a POST of body signed the way weir signs a push delivery.
func signed(t *testing.T, secret, id string, body []byte) *http.Request {
	t.Helper()
	h, err := verify.Sign(verify.Config{Scheme: verify.SchemeStandardWebhooks, Secrets: []string{secret}}, body, time.Now(), id)
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header = h
	req.Header.Set("Content-Type", "application/cloudevents+json")
	return req
}

func (b *listenBundle) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	return rec
}

func TestListenPrintsVerifiedDelivery(t *testing.T) {
	t.Parallel()
	b := setupListen(t, listenOptions{Secret: listenSecret})
	rec := b.serve(signed(t, listenSecret, "evt-1", []byte(orderEvent)))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	out := b.out.String()
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  order\.created  evt-1  from /sources/shop  \(attempt 1\)  -> 200\n`, out)
	require.Contains(t, out, "\n  {\n    \"order\": 1042,\n    \"total\": 129.9\n  }\n")
	require.NotContains(t, out, "webhook-id=", "shown only when it differs from the event id")

	// The same delivery again is the next attempt.
	require.Equal(t, http.StatusOK, b.serve(signed(t, listenSecret, "evt-1", []byte(orderEvent))).Code)
	require.Contains(t, b.out.String(), "(attempt 2)")
}

func TestListenRejectsBadSignatures(t *testing.T) {
	t.Parallel()
	tampered := signed(t, listenSecret, "evt-1", []byte(orderEvent))
	tampered.Body = io.NopCloser(strings.NewReader(strings.Replace(orderEvent, "1042", "9999", 1)))
	unsigned := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(orderEvent))
	noID := signed(t, listenSecret, "evt-1", []byte(orderEvent))
	noID.Header.Del("webhook-id")
	old, err := verify.Sign(verify.Config{Scheme: verify.SchemeStandardWebhooks, Secrets: []string{listenSecret}},
		[]byte(orderEvent), time.Now().Add(-time.Hour), "evt-1")
	require.NoError(t, err)
	stale := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(orderEvent))
	stale.Header = old

	for _, tc := range []struct {
		name string
		req  *http.Request
		why  string
	}{
		{"tampered body", tampered, "signature mismatch: the signature in header webhook-signature"},
		{"wrong secret", signed(t, "whsec_c2VjcmV0LW9mLWFub3RoZXItc3Vic2NyaXB0aW9u", "evt-1", []byte(orderEvent)), "signature mismatch"},
		{"no headers", unsigned, "missing signature header webhook-signature"},
		{"no webhook-id", noID, "missing signature header webhook-id"},
		{"an hour old", stale, "signature timestamp too old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupListen(t, listenOptions{Secret: listenSecret})
			rec := b.serve(tc.req)
			require.Equal(t, http.StatusUnauthorized, rec.Code)
			require.Contains(t, rec.Body.String(), tc.why)
			require.Regexp(t, `^\S+Z  -> 401  bad signature: `+regexp.QuoteMeta(tc.why), b.out.String())
			require.NotContains(t, b.out.String(), "order.created", "a rejected event is not shown")
		})
	}
}

func TestListenFailThenSucceed(t *testing.T) {
	t.Parallel()
	b := setupListen(t, listenOptions{Secret: listenSecret, Fail: 2})
	for i, want := range []int{503, 503, 200} {
		rec := b.serve(signed(t, listenSecret, "evt-1", []byte(orderEvent)))
		require.Equal(t, want, rec.Code, "delivery %d", i+1)
	}
	out := b.out.String()
	require.Contains(t, out, "(attempt 1)  -> 503 (--fail: 1 of 2)")
	require.Contains(t, out, "(attempt 2)  -> 503 (--fail: 2 of 2)")
	require.Contains(t, out, "(attempt 3)  -> 200\n")

	// Refused requests do not use up --fail.
	b = setupListen(t, listenOptions{Secret: listenSecret, Fail: 1})
	require.Equal(t, http.StatusUnauthorized, b.serve(signed(t, "whsec_b3RoZXI=", "evt-1", []byte(orderEvent))).Code)
	require.Equal(t, http.StatusServiceUnavailable, b.serve(signed(t, listenSecret, "evt-1", []byte(orderEvent))).Code)
}

func TestListenStatus(t *testing.T) {
	t.Parallel()
	b := setupListen(t, listenOptions{Secret: listenSecret, Status: 500})
	for range 3 {
		require.Equal(t, http.StatusInternalServerError, b.serve(signed(t, listenSecret, "evt-1", []byte(orderEvent))).Code)
	}
	require.Equal(t, 3, strings.Count(b.out.String(), "-> 500 (--status)"))
}

func TestListenRefusesWhatWeirDoesNotSend(t *testing.T) {
	t.Parallel()
	big := make([]byte, listenMaxBody+1)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   []byte
		status int
		why    string
	}{
		{"GET", http.MethodGet, "/", nil, 405, "GET /: weir delivers with POST only"},
		{"not JSON", http.MethodPost, "/", []byte("hello"), 400, "body is not a JSON object"},
		{"JSON array", http.MethodPost, "/", []byte(`[` + orderEvent + `]`), 400, "body is not a JSON object"},
		{"JSON null", http.MethodPost, "/", []byte(`null`), 400, "body is not a JSON object"},
		{"broken JSON", http.MethodPost, "/", []byte(`{"id":`), 400, "body is not a CloudEvents JSON event"},
		{"other path", http.MethodPost, "/webhooks", []byte(orderEvent), 404, "give --path /webhooks"},
		{"over 8 MiB", http.MethodPost, "/", big, 413, "body over 8 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Unsigned, so that the check under test is the one that answers.
			b := setupListen(t, listenOptions{})
			rec := b.serve(httptest.NewRequest(tc.method, tc.path, bytes.NewReader(tc.body)))
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			require.Contains(t, rec.Body.String(), tc.why)
			require.Contains(t, b.out.String(), fmt.Sprintf("-> %d  ", tc.status))
			require.Contains(t, b.out.String(), tc.why)
			if tc.status == http.StatusMethodNotAllowed {
				require.Equal(t, "POST", rec.Header().Get("Allow"))
			}
		})
	}
}

func TestListenPrintsSafely(t *testing.T) {
	t.Parallel()
	b := setupListen(t, listenOptions{})

	// An escape sequence in an attribute is shown, not run.
	body := `{"specversion":"1.0","id":"e\u001b[2J","source":"/s","type":"t","data":null}`
	require.Equal(t, http.StatusOK, b.serve(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))).Code)
	require.NotContains(t, b.out.String(), "\x1b")
	require.Contains(t, b.out.String(), `e\u001b[2J`)
	require.Contains(t, b.out.String(), "\n  null\n")

	// Long data is cut to a screenful.
	var data strings.Builder
	for i := range 100 {
		fmt.Fprintf(&data, `,"k%d":"%s"`, i, strings.Repeat("x", 500))
	}
	body = `{"specversion":"1.0","id":"e2","source":"/s","type":"t","data":{` + data.String()[1:] + `}}`
	require.Equal(t, http.StatusOK, b.serve(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))).Code)
	_, block, _ := strings.Cut(b.out.String(), "  t  e2  from /s")
	lines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
	require.Len(t, lines, 1+listenDataLines+1, "the event line, 40 lines of data, the mark")
	require.Equal(t, "  …", lines[len(lines)-1])
	for _, l := range lines {
		require.LessOrEqual(t, len([]rune(l)), 2+listenLineWidth+1, "indent, text, mark")
	}

	// Not CloudEvents at all: the whole object is shown.
	require.Equal(t, http.StatusOK, b.serve(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"hello":"world"}`))).Code)
	require.Contains(t, b.out.String(), "(not a CloudEvents event: no specversion)  (attempt 1)  -> 200\n  {\n    \"hello\": \"world\"\n  }\n")
}

func TestListenCountsFailuresExactlyUnderLoad(t *testing.T) {
	t.Parallel()
	b := setupListen(t, listenOptions{Secret: listenSecret, Fail: 5})
	srv := httptest.NewServer(b.h)
	t.Cleanup(srv.Close)

	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for i := range 20 {
		body := []byte(strings.Replace(orderEvent, "evt-1", fmt.Sprintf("evt-%d", i), 1))
		req := signed(t, listenSecret, fmt.Sprintf("evt-%d", i), body)
		wg.Go(func() {
			out, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
			if err != nil {
				codes <- 0
				return
			}
			out.Header = req.Header
			resp, err := srv.Client().Do(out)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	require.Equal(t, map[int]int{503: 5, 200: 15}, count)
	// Blocks are written whole: every event line is followed by its data.
	require.Equal(t, 20, strings.Count(b.out.String(), "  }\n"))
	require.Regexp(t, `^(\S+Z  order\.created  evt-\d+  from /sources/shop  \(attempt 1\)  -> \d{3}[^\n]*\n  \{\n    "order": 1042,\n    "total": 129\.9\n  \}\n){20}$`, b.out.String())
}

func TestListenOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts listenOptions
		want string
	}{
		{listenOptions{Secret: "not base64!"}, "--secret: verify.secrets[0]: not a Standard Webhooks secret"},
		{listenOptions{Status: 99}, "--status 99: want 200 to 599"},
		{listenOptions{Status: 600}, "--status 600"},
		{listenOptions{Fail: -1}, "--fail -1"},
		{listenOptions{Path: "hooks"}, `--path "hooks": must start with /`},
	} {
		_, err := newListener(tc.opts, io.Discard)
		require.ErrorContains(t, err, tc.want)
	}

	var stderr bytes.Buffer
	require.Equal(t, 1, Main([]string{"listen", "--secret", listenSecret}, io.Discard, &stderr))
	require.Contains(t, stderr.String(), "weir: listen: --port is required (0 picks a free port)")
	stderr.Reset()
	require.Equal(t, 1, Main([]string{"listen", "--port", "0", "extra"}, io.Discard, &stderr))
	require.Contains(t, stderr.String(), `unexpected argument "extra"`)
	stderr.Reset()
	require.Equal(t, 1, Main([]string{"listen", "--port", "http"}, io.Discard, &stderr))
	require.Contains(t, stderr.String(), `--port "http": want a number from 0 to 65535`)
}

// TestListenCommand runs the command on a real port, from its flags to its
// shutdown. It drives runListen with a context instead of Main, because
// stopping Main needs a SIGINT to the whole test process, which would also
// stop the commands of the tests running next to it.
func TestListenCommand(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{listenSecret, ""} {
		t.Run("secret="+secret, func(t *testing.T) {
			t.Parallel()
			args := []string{"--port", "0", "--path", "/hooks"}
			if secret != "" {
				args = append(args, "--secret", secret)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := &weirtest.LockedBuffer{}
			done := make(chan error, 1)
			go func() { done <- runListen(ctx, args, out, io.Discard) }()

			addr := regexp.MustCompile(`weir listen: receiving on (http://127\.0\.0\.1:\d+/hooks) \(secret checked: (yes|no)\)\n`)
			var m []string
			require.Eventually(t, func() bool { m = addr.FindStringSubmatch(out.String()); return m != nil }, 5*time.Second, 10*time.Millisecond)
			if secret != "" {
				require.Equal(t, "yes", m[2])
				require.NotContains(t, out.String(), "NOT verified")
			} else {
				require.Equal(t, "no", m[2])
				require.Contains(t, out.String(), "deliveries are NOT verified")
			}

			h, err := verify.Sign(verify.Config{Scheme: verify.SchemeStandardWebhooks, Secrets: []string{listenSecret}},
				[]byte(orderEvent), time.Now(), "evt-1")
			require.NoError(t, err)
			req, err := http.NewRequest(http.MethodPost, m[1], strings.NewReader(orderEvent))
			require.NoError(t, err)
			req.Header = h
			req.Header.Set("Content-Type", "application/cloudevents+json")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, string(answer))
			require.Contains(t, out.String(), "order.created  evt-1  from /sources/shop")

			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("weir listen did not stop")
			}
			require.True(t, strings.HasSuffix(out.String(), "weir listen: stopped\n"), out.String())
		})
	}
}

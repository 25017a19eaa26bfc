package delivery

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// logLines is a log sink whose lines a test reads as they are written.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default: // a test that does not read its log must not block the manager
	}
	return len(p), nil
}

// awaitLine reads log lines until one contains every part.
func (l logLines) awaitLine(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case line := <-l:
			if containsAll(line, parts) {
				return
			}
		case <-deadline:
			t.Fatalf("no log line with %q", parts)
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// pushAllowed is a manager config whose push subscriptions may reach loopback.
var pushAllowed = Config{Delivery: config.Delivery{Allow: []string{"127.0.0.0/8"}}}

// subGoroutines lists the goroutines running a subscription's code.
func subGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "delivery.(*Sub)") {
			out = append(out, g)
		}
	}
	return out
}

// TestDisabledWorkerIsWaitedFor disables a push subscription from inside its
// own worker (the endpoint answers 410) and stops the manager: the worker
// and whatever stopped it must be gone when Stop returns, not later.
func TestDisabledWorkerIsWaitedFor(t *testing.T) {
	// Not parallel: it counts the package's goroutines.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusGone)
	}))
	defer app.Close()
	b, m := startManager(t, pushAllowed, slog.New(slog.DiscardHandler), nil)
	require.NoError(t, m.Create(t.Context(), "push", &config.Subscription{
		Types: []string{"order.created"},
		Push:  &config.Push{URL: app.URL, Secret: "whsec_dGVzdC1zdWJzY3JpcHRpb24tc2VjcmV0LTEyMzQ="},
	}, false, Creator{Token: "admin", Trusted: true}))
	s, err := m.sub("push")
	require.NoError(t, err)
	publish(t, b, "ev1")
	weirtest.EventuallyTrue(t, 15*time.Second, func() bool { return s.disabled.Load() }, "the subscription disabled by 410")

	m.Stop(t.Context())
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	require.NotNil(t, done)
	require.True(t, isClosed(done), "the worker still runs after Stop")
	require.Empty(t, subGoroutines(), "goroutines of a subscription outlived Stop")
}

// TestUnreadableStateIsLogged stores a subscription state that does not
// decode: it is ignored, but said so with the key and the error.
func TestUnreadableStateIsLogged(t *testing.T) {
	t.Parallel()
	lines := make(logLines, 1000)
	_, m := startManager(t, Config{}, slog.New(slog.NewTextHandler(lines, nil)), nil)
	require.NoError(t, m.Create(t.Context(), "p", &config.Subscription{Types: []string{"order.created"}, Pull: &config.Pull{}}, false, Creator{Token: "admin", Trusted: true}))
	_, err := m.kv.Put(t.Context(), "state.p", []byte("{not json"))
	require.NoError(t, err)
	lines.awaitLine(t, "subscription state unreadable", "key=state.p", "invalid character")
	s, err := m.sub("p")
	require.NoError(t, err)
	require.False(t, s.disabled.Load(), "the subscription keeps its state")
}

package delivery

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/deadletter"
)

// syncBuffer is a log sink that tests read while the manager writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type managerBundle struct {
	bus *bus.Bus
	m   *Manager
	log *syncBuffer
}

// setupManager runs a manager on an embedded bus that may push to loopback.
// The caller stops it (Stop twice is harmless, so Cleanup does too).
func setupManager(t *testing.T) *managerBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(buf, nil))
	b, err := bus.Open(ctx, bus.Config{StoreDir: t.TempDir(), Name: "sub-test", MaxAge: time.Hour}, log)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	dead, err := deadletter.Open(ctx, b.JetStream(), time.Hour, 1)
	require.NoError(t, err)
	m, err := New(b, Config{DeadLetters: dead, Delivery: config.Delivery{Allow: []string{"127.0.0.0/8"}}}, NewMetrics(prometheus.NewRegistry()), log)
	require.NoError(t, err)
	require.NoError(t, m.Start(ctx))
	t.Cleanup(m.Stop)
	return &managerBundle{bus: b, m: m, log: buf}
}

func (mb *managerBundle) publish(t *testing.T, id string) {
	t.Helper()
	msg := nats.NewMsg(bus.EventsPrefix + "order.created")
	msg.Header.Set(bus.HeaderEventID, id)
	msg.Header.Set(bus.HeaderEventType, "order.created")
	msg.Data = fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"/t","type":"order.created","data":{}}`, id)
	_, err := mb.bus.Publish(t.Context(), msg, "")
	require.NoError(t, err)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

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
	mb := setupManager(t)
	require.NoError(t, mb.m.Create(t.Context(), "push", &config.Subscription{
		Types: []string{"order.created"},
		Push:  &config.Push{URL: app.URL, Secret: "whsec_dGVzdC1zdWJzY3JpcHRpb24tc2VjcmV0LTEyMzQ="},
	}, false, Creator{Token: "admin", Trusted: true}))
	s, err := mb.m.sub("push")
	require.NoError(t, err)
	mb.publish(t, "ev1")
	waitFor(t, "the subscription disabled by 410", func() bool { return s.disabled.Load() })

	mb.m.Stop()
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
	mb := setupManager(t)
	require.NoError(t, mb.m.Create(t.Context(), "p", &config.Subscription{Types: []string{"order.created"}, Pull: &config.Pull{}}, false, Creator{Token: "admin", Trusted: true}))
	_, err := mb.m.kv.Put(t.Context(), "state.p", []byte("{not json"))
	require.NoError(t, err)
	waitFor(t, "the log line", func() bool {
		l := mb.log.String()
		return strings.Contains(l, "subscription state unreadable") && strings.Contains(l, "key=state.p") && strings.Contains(l, "invalid character")
	})
	s, err := mb.m.sub("p")
	require.NoError(t, err)
	require.False(t, s.disabled.Load(), "the subscription keeps its state")
}

package server

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/archive"
	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/contract"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/retention"
)

// componentPackages are the packages whose goroutines a stopped component
// must not leave behind.
var componentPackages = []string{
	"weir/internal/archive.",
	"weir/internal/retention.",
	"weir/internal/delivery.",
	"weir/internal/contract.",
}

// componentGoroutines counts the goroutines whose stack runs code of a
// component package, and returns their stacks.
func componentGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	var found []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		for _, p := range componentPackages {
			if strings.Contains(g, p) {
				count++
				found = append(found, g)
				break
			}
		}
	}
	return count, strings.Join(found, "\n\n")
}

// TestComponentLifecycle holds every long-running part to the contract of
// doc.go: Stop before Start is fine and Start after it refuses; Start, a
// second Start refused, Stop twice; a second instance started and stopped
// again; and no goroutine of the part is left afterwards.
func TestComponentLifecycle(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{StoreDir: t.TempDir(), Replicas: 1, MaxAge: time.Hour, Name: "lifecycle-test"}, log)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	js := b.JetStream()
	dead, err := deadletter.Open(ctx, js, time.Hour, 1)
	require.NoError(t, err)
	archiveDir := t.TempDir()

	builders := map[string]func(t *testing.T) Component{
		"archive": func(t *testing.T) Component {
			a, err := archive.New(js, archive.Config{Dir: archiveDir}, log)
			require.NoError(t, err)
			return a
		},
		"retention": func(*testing.T) Component {
			return retention.New(js, time.Hour, log)
		},
		"delivery": func(t *testing.T) Component {
			m, err := delivery.New(b, delivery.Config{
				Subscriptions: map[string]*config.Subscription{
					"p": {Types: []string{"order.created"}, Pull: &config.Pull{}},
				},
				Replicas: 1, DeadLetters: dead,
			}, delivery.NewMetrics(prometheus.NewRegistry()), log)
			require.NoError(t, err)
			return m
		},
		"contracts": func(*testing.T) Component {
			return contract.New(js, 1, "http://127.0.0.1")
		},
	}

	before, _ := componentGoroutines()
	for name, build := range builders {
		t.Run(name, func(t *testing.T) {
			// Stopped before it starts: Stop returns at once, twice, and
			// Start then refuses instead of running with nothing to stop it.
			c := build(t)
			require.NoError(t, c.Stop(ctx))
			require.NoError(t, c.Stop(ctx))
			require.Error(t, c.Start(ctx))

			for range 2 {
				c := build(t)
				// Start's ctx bounds the start-up only: cancelling it
				// afterwards does not stop the component.
				startCtx, startCancel := context.WithCancel(ctx)
				require.NoError(t, c.Start(startCtx))
				startCancel()
				require.Error(t, c.Start(ctx), "a second Start")
				require.NoError(t, c.Stop(ctx))
				require.NoError(t, c.Stop(ctx), "a second Stop")
			}
		})
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		n, stacks := componentGoroutines()
		if n <= before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the components are left behind (%d before):\n%s", n-before, before, stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

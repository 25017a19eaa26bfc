package server

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBusListenPortInUseFailsTheStart: a bus.listen port another process holds
// fails weir's start at once, with the address in the error. The context's
// deadline is the failure condition; before, the start waited 30 s for a
// server that could never be ready, whatever the context said.
func TestBusListenPortInUseFailsTheStart(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()

	cfg := testConfig(t)
	cfg.Bus.Listen = l.Addr().String()
	srv := New(cfg, discardLogger(), &bytes.Buffer{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Start(ctx)
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "the start failed before its deadline")
	require.Contains(t, err.Error(), "bus.listen")
	require.Contains(t, err.Error(), l.Addr().String())

	// Nothing is left open: the HTTP port is free again.
	require.NoError(t, srv.Stop(context.Background()))
}

// syncLog collects log lines written from several goroutines.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBusListenRemoteWarns: an exposed bus the configuration allows beyond
// loopback is logged as a warning at start.
func TestBusListenRemoteWarns(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Bus.Listen = "127.0.0.1:0"
	cfg.Bus.ListenRemote = true
	logs := &syncLog{}
	srv := New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})), &bytes.Buffer{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, srv.Start(ctx))
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	require.Contains(t, logs.String(), "level=WARN")
	require.Contains(t, logs.String(), "bus.listen=127.0.0.1:0")
}

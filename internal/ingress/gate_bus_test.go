package ingress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/weirtest"
)

// delayingProxy forwards TCP connections to target, holding back every byte
// the target sends by the current delay: with a NATS server as the target,
// each JetStream ack reaches weir that much later, as from a slow bus.
type delayingProxy struct {
	ln    net.Listener
	delay atomic.Int64 // nanoseconds
}

func startDelayingProxy(t *testing.T, target string) *delayingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &delayingProxy{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				_ = client.Close()
				continue
			}
			closeBoth := func() { _ = client.Close(); _ = server.Close() }
			wg.Go(func() { _, _ = io.Copy(server, client); closeBoth() })
			wg.Go(func() { p.copyDelayed(client, server); closeBoth() })
		}
	})
	return p
}

// copyDelayed writes what it reads from src to dst, each chunk once the
// delay in force when it was read has passed.
func (p *delayingProxy) copyDelayed(dst io.Writer, src io.Reader) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	chunks := make(chan chunk, 4096)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				chunks <- chunk{buf[:n], time.Now().Add(time.Duration(p.delay.Load()))}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range chunks {
		time.Sleep(time.Until(c.at)) // the latency being simulated
		if _, err := dst.Write(c.b); err != nil {
			for range chunks { // let the reader end
			}
			return
		}
	}
}

// TestPressureTracksAckTimeThroughASlowBus stores events on a real NATS
// JetStream server reached through a proxy that delays its replies, with
// slow_ack 1s and several senders at once, and reads the pressure while
// they run. It must read about ack time / slow_ack, so that low-priority
// sources are shed from acks of half of slow_ack and normal ones are not.
func TestPressureTracksAckTimeThroughASlowBus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	t.Parallel()
	ns, err := natsserver.NewServer(&natsserver.Options{
		ServerName: "slow", Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
	})
	require.NoError(t, err)
	go ns.Start()
	require.True(t, ns.ReadyForConnections(10*time.Second))
	t.Cleanup(ns.Shutdown)
	proxy := startDelayingProxy(t, ns.Addr().String())

	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{URL: "nats://" + proxy.ln.Addr().String(), Replicas: 1, MaxAge: time.Hour,
		DedupeWindow: time.Minute, Name: "slow-ack-test"}, log)
	require.NoError(t, err)
	t.Cleanup(b.Close)

	for _, c := range []struct {
		ack     time.Duration
		senders int
	}{{600 * time.Millisecond, 8}, {700 * time.Millisecond, 2}} {
		t.Run(fmt.Sprintf("%s acks, %d senders", c.ack, c.senders), func(t *testing.T) {
			proxy.delay.Store(int64(c.ack))
			gate := NewGate(4096, time.Second)
			pub := NewPublisher(b, nil, gate, NewMetrics(prometheus.NewRegistry()), 10*time.Second, log, nil)
			sctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			var n atomic.Int64
			for range c.senders {
				wg.Go(func() {
					for sctx.Err() == nil {
						ev := &event.Event{ID: fmt.Sprintf("e%d", n.Add(1)), Source: "/t", SpecVersion: event.SpecVersion, Type: "order.created"}
						_, _ = pub.Publish(sctx, ev, "", 0)
					}
				})
			}
			// Let the estimate settle (a dozen acks per sender), then read it
			// for a few more acks and probe the gate as a low and a normal
			// source would.
			weirtest.EventuallyTrue(t, 30*time.Second, func() bool { return n.Load() >= int64(12*c.senders) }, "a dozen acks per sender")
			lo, hi := 10.0, 0.0
			lowShed, normalShed, probes := 0, 0, 0
			tick := time.NewTicker(c.ack / 20)
			defer tick.Stop()
			for until := n.Load() + int64(4*c.senders); n.Load() < until; <-tick.C {
				_, p := gate.Load()
				lo, hi = min(lo, p), max(hi, p)
				if release, refused := gate.Enter(PriorityLow); refused != nil {
					lowShed++
				} else {
					release()
				}
				if release, refused := gate.Enter(PriorityNormal); refused != nil {
					normalShed++
				} else {
					release()
				}
				probes++
			}
			stop()
			wg.Wait()
			want := c.ack.Seconds()
			t.Logf("%s acks, %d senders: pressure %.2f-%.2f (ack/slow_ack %.2f); low shed on %d of %d probes, normal on %d; %d events stored",
				c.ack, c.senders, lo, hi, want, lowShed, probes, normalShed, n.Load())
			require.GreaterOrEqual(t, lo, want-0.08, "the pressure fell below ack time / slow_ack")
			require.LessOrEqual(t, hi, want+0.15, "the pressure rose well above ack time / slow_ack")
			require.Equal(t, probes, lowShed, "low-priority sources are shed from acks of half of slow_ack")
			require.Zero(t, normalShed, "normal sources are shed only from 0.8")
		})
	}
}

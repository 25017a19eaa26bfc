package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// runNATS starts a separate NATS server reached over TCP, standing in for an
// external JetStream cluster.
func runNATS(t *testing.T, port int, dir string) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		ServerName: "external",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
	})
	require.NoError(t, err)
	go ns.Start()
	require.True(t, ns.ReadyForConnections(10*time.Second))
	t.Cleanup(ns.Shutdown)
	return ns
}

func TestExternalBusOutageAndRetry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ns := runNATS(t, -1, dir)
	addr := ns.ClientURL()

	cfg := testConfig(t)
	cfg.Bus.URL = addr
	cfg.Bus.PublishTimeout = 2 * time.Second
	b := start(t, cfg)

	r := b.sendShop(t, `{"n":1}`, "before")
	require.Equal(t, http.StatusAccepted, r.status, "weir stores events on the external server over TCP")
	require.Len(t, storedEvents(t, b.srv.Bus().JetStream(), "events.>"), 1)

	// The bus goes away: weir answers 503 with Retry-After, quickly.
	tcpPort := ns.Addr().(*net.TCPAddr).Port
	ns.Shutdown()
	ns.WaitForShutdown()
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return !b.srv.Bus().Connected() }, "weir notices the outage")
	started := time.Now()
	r = b.sendShop(t, `{"n":2}`, "during-outage")
	require.Equal(t, http.StatusServiceUnavailable, r.status, string(r.raw))
	require.Equal(t, "5", r.header.Get("Retry-After"))
	require.Equal(t, "https://weir.dev/problems/bus-unavailable", r.body["type"])
	require.Less(t, time.Since(started), cfg.Bus.PublishTimeout, "an outage is a fast 503, not a hanging request")
	ready := do(t, mustGet(t, b.base+"/readyz"))
	require.Equal(t, http.StatusServiceUnavailable, ready.status)

	// The bus comes back on the same address and files: the sender's retry of
	// the refused delivery is accepted, not swallowed as a duplicate.
	runNATS(t, tcpPort, dir)
	weirtest.EventuallyTrue(t, 15*time.Second, func() bool {
		return do(t, mustGet(t, b.base+"/readyz")).status == http.StatusOK
	}, "weir reconnects")
	r = b.sendShop(t, `{"n":2}`, "during-outage")
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	require.Len(t, storedEvents(t, b.srv.Bus().JetStream(), "events.>"), 2)
	r = b.sendShop(t, `{"n":1}`, "before")
	require.Equal(t, http.StatusOK, r.status, "what was stored before the outage is still a duplicate")
}

func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	b := start(t, cfg)

	body := []byte(`{"order":"in-flight"}`)
	req := signedRequest(t, b.base, "shop", shopScheme, body, "inflight", time.Now())
	pr, pw := io.Pipe()
	req.Body = pr
	req.ContentLength = int64(len(body))
	answered := make(chan response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- response{status: -1, raw: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		answered <- response{status: resp.StatusCode, raw: raw}
	}()
	_, err := pw.Write(body[:5]) // the request is now in flight, half sent
	require.NoError(t, err)
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool {
		return strings.Contains(string(do(t, mustGet(t, b.base+"/metrics")).raw), "weir_http_in_flight_requests 1")
	}, "the server is serving the request")

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stopped <- b.srv.Stop(ctx)
	}()
	// Wait until the listener is closed: new connections are refused.
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool {
		c, err := http.Get(b.base + "/healthz")
		if err == nil {
			c.Body.Close()
		}
		return err != nil
	}, "the listener closes on shutdown")
	_, err = pw.Write(body[5:])
	require.NoError(t, err)
	require.NoError(t, pw.Close())

	r := <-answered
	require.Equal(t, http.StatusAccepted, r.status, "the in-flight request finishes: %s", r.raw)
	require.NoError(t, <-stopped)

	b2 := start(t, cfg)
	evs := storedEvents(t, b2.srv.Bus().JetStream(), "events.>")
	require.Len(t, evs, 1, "the in-flight event was stored before shutdown completed")
}

func mustGet(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	return req
}

package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// stalledRequests are requests whose headers promise a body that never comes,
// one for every kind of route: a webhook, the API (before and after
// authentication), and operations routes that never read a body.
var stalledRequests = []string{
	"POST /in/shop HTTP/1.1\r\nHost: weir\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
	"POST /v1/events HTTP/1.1\r\nHost: weir\r\nAuthorization: Bearer " + adminSecret + "\r\nContent-Type: application/cloudevents+json\r\nContent-Length: 100\r\n\r\n{",
	"POST /v1/subscriptions HTTP/1.1\r\nHost: weir\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
	"GET /healthz HTTP/1.1\r\nHost: weir\r\nContent-Length: 100\r\n\r\n",
	"GET /metrics HTTP/1.1\r\nHost: weir\r\nTransfer-Encoding: chunked\r\n\r\n",
}

// dialFrom connects to addr from the local address ip, so that one test can
// be several clients.
func dialFrom(ip, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// clientFrom is an HTTP client whose connections come from the local address ip.
func clientFrom(ip string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
			return d.DialContext(ctx, "tcp", addr)
		},
		DisableKeepAlives: true,
	}, Timeout: 10 * time.Second}
}

// TestStalledBodiesAreBoundedOnEveryRoute: one client opens more sockets than
// max_connections, each sending headers that promise a body it never sends,
// to every kind of route. Another client's webhook on a fresh connection is
// still served, and every stalled socket is closed once body_timeout passes
// (or at once, when its address is over max_client_connections).
func TestStalledBodiesAreBoundedOnEveryRoute(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Server.MaxConnections = 8
	cfg.Server.MaxClientConnections = 4
	cfg.Server.BodyTimeout = 300 * time.Millisecond
	b := start(t, cfg)
	addr := b.srv.Addr()

	var stalled []net.Conn
	for i := range 2 * cfg.Server.MaxConnections {
		c, err := dialFrom("127.0.0.1", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		_, err = io.WriteString(c, stalledRequests[i%len(stalledRequests)])
		require.NoError(t, err)
		stalled = append(stalled, c)
	}

	// Another client (127.0.0.2 is loopback too) gets its webhook in, on a
	// fresh connection, while the stalled sockets are open.
	resp, err := clientFrom("127.0.0.2").Do(signedRequest(t, b.base, "shop", shopScheme, []byte(`{"n":1}`), "past-the-stall", time.Now()))
	require.NoError(t, err, "a webhook from another client is served while one client stalls")
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	// Every stalled socket is closed by weir: read until EOF (or a reset),
	// with a deadline far past body_timeout as the failure condition.
	for i, c := range stalled {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(15*time.Second)))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("stalled socket %d (%q) is still open", i, strings.SplitN(stalledRequests[i%len(stalledRequests)], "\r\n", 2)[0])
		}
	}

	// The slots are free again: the stalling client's own next request works.
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool {
		r, err := http.Get(b.base + "/healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	}, "the stalling address is served again once its sockets are closed")
}

// TestConnectionsOverTheClientCapAreRefused: a connection past
// max_client_connections from one address gets a 429 problem and is closed,
// without taking a slot; other addresses are not affected.
func TestConnectionsOverTheClientCapAreRefused(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Server.MaxConnections = 8
	cfg.Server.MaxClientConnections = 2
	b := start(t, cfg)
	addr := b.srv.Addr()

	// Two idle keep-alive connections hold this address's share.
	for range cfg.Server.MaxClientConnections {
		c, err := dialFrom("127.0.0.1", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: weir\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}

	c, err := dialFrom("127.0.0.1", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: weir\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	require.Contains(t, string(body), "https://weir.dev/problems/too-many-connections")
	require.Contains(t, string(body), "server.max_client_connections")

	other, err := dialFrom("127.0.0.2", addr)
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, other.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(other, "GET /healthz HTTP/1.1\r\nHost: weir\r\n\r\n")
	require.NoError(t, err)
	resp, err = http.ReadResponse(bufio.NewReader(other), nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "another address has its own share")

	mresp, err := clientFrom("127.0.0.2").Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	require.Contains(t, string(metrics), "weir_http_connections_refused_total 1")
}

package server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// slowLink is a TCP proxy that holds everything the server sends back for a
// delay: weir's publishes reach the bus at once, their acks come late, as with a
// bus whose disks or network have slowed down.
type slowLink struct {
	addr  string
	delay atomic.Int64 // nanoseconds
}

func newSlowLink(t *testing.T, upstream string) *slowLink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	s := &slowLink{addr: l.Addr().String()}
	var conns sync.WaitGroup
	t.Cleanup(conns.Wait)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = c.Close()
				continue
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				s.pipe(c, u)
			}()
		}
	}()
	return s
}

// pipe copies client->server at once and server->client after the delay, in order.
func (s *slowLink) pipe(client, server net.Conn) {
	type chunk struct {
		due  time.Time
		data []byte
	}
	chunks := make(chan chunk, 4096)
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(server, client)
		_ = server.Close()
	}()
	go func() {
		defer close(done)
		for c := range chunks {
			time.Sleep(time.Until(c.due))
			if _, err := client.Write(c.data); err != nil {
				break
			}
		}
		_ = client.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			chunks <- chunk{due: time.Now().Add(time.Duration(s.delay.Load())), data: bytes.Clone(buf[:n])}
		}
		if err != nil {
			break
		}
	}
	close(chunks)
	<-done
}

const shedConfig = `
server: {addr: "127.0.0.1:0", shutdown_timeout: 10s}
log: {level: error}
sources:
  ledger:    {verify: {scheme: none}, type: load.ledger, priority: essential}
  orders:    {verify: {scheme: none}, type: load.orders}
  analytics: {verify: {scheme: none}, type: load.analytics, priority: low}
`

// startBehindSlowLink runs weir on an external bus reached through a slowLink.
func startBehindSlowLink(t *testing.T, maxPending int, slowAck time.Duration) (*bundle, *slowLink) {
	t.Helper()
	ns := runNATS(t, -1, t.TempDir())
	link := newSlowLink(t, ns.Addr().String())
	cfg, err := config.Parse([]byte(shedConfig), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	cfg.Bus.URL = "nats://" + link.addr
	cfg.Bus.PublishTimeout = 10 * time.Second
	cfg.Ingress.MaxPending = maxPending
	cfg.Ingress.SlowAck = slowAck
	return start(t, cfg), link
}

func post(t *testing.T, base, source string, n int) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/in/"+source, strings.NewReader(`{"n":`+strconv.Itoa(n)+`}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

// requireShed checks the answer to a shed request.
func requireShed(t *testing.T, r response, retryAfter string) {
	t.Helper()
	require.Equal(t, http.StatusServiceUnavailable, r.status, string(r.raw))
	require.Equal(t, "https://weir.dev/problems/overloaded", r.body["type"])
	require.Equal(t, retryAfter, r.header.Get("Retry-After"))
}

// TestSaturationShedsLowPriorityFirst fills the node with events waiting for a
// slow bus: low-priority sources are refused first, normal ones later, and
// essential ones keep flowing; everything accepted is stored.
func TestSaturationShedsLowPriorityFirst(t *testing.T) {
	t.Parallel()
	b, link := startBehindSlowLink(t, 40, time.Hour)
	link.delay.Store(int64(200 * time.Millisecond))

	type tally struct{ accepted, shed, other atomic.Int64 }
	counts := map[string]*tally{"ledger": {}, "orders": {}, "analytics": {}}
	stop := make(chan struct{})
	var n atomic.Int64
	// send runs on the senders' goroutines: it counts instead of failing the test.
	send := func(source string) {
		resp, err := http.Post(b.base+"/in/"+source, "application/json", strings.NewReader(`{"n":`+strconv.FormatInt(n.Add(1), 10)+`}`))
		if err != nil {
			counts[source].other.Add(1)
			return
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantRetry := map[string]string{"analytics": "10", "orders": "5"}[source]
		switch {
		case resp.StatusCode == http.StatusAccepted:
			counts[source].accepted.Add(1)
		case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == wantRetry &&
			bytes.Contains(raw, []byte(`"type":"https://weir.dev/problems/overloaded"`)):
			counts[source].shed.Add(1)
			time.Sleep(20 * time.Millisecond) // a sender pacing its retries, not synchronisation
		default:
			counts[source].other.Add(1)
		}
	}
	// 10 essential, 10 normal and 15 low senders: 35 at most in flight, under
	// max_pending (40), over the low (20) and normal (32) shedding points.
	var background, essential sync.WaitGroup
	for source, senders := range map[string]int{"orders": 10, "analytics": 15} {
		for range senders {
			background.Add(1)
			go func() {
				defer background.Done()
				for {
					select {
					case <-stop:
						return
					default:
						send(source)
					}
				}
			}()
		}
	}
	for range 10 {
		essential.Add(1)
		go func() {
			defer essential.Done()
			for range 5 {
				send("ledger")
			}
		}()
	}
	essential.Wait()
	close(stop)
	background.Wait()

	ledger, orders, analytics := counts["ledger"], counts["orders"], counts["analytics"]
	t.Logf("essential %d accepted/%d shed; normal %d/%d; low %d/%d",
		ledger.accepted.Load(), ledger.shed.Load(), orders.accepted.Load(), orders.shed.Load(), analytics.accepted.Load(), analytics.shed.Load())
	require.EqualValues(t, 50, ledger.accepted.Load(), "every essential event got through")
	require.Zero(t, ledger.shed.Load())
	require.Positive(t, analytics.shed.Load(), "low-priority events were shed")
	for _, c := range counts {
		require.Zero(t, c.other.Load(), "every answer was 202, or 503 overloaded with the priority's Retry-After")
	}
	shedShare := func(c *tally) float64 {
		return float64(c.shed.Load()) / float64(c.shed.Load()+c.accepted.Load())
	}
	require.Greater(t, shedShare(analytics), shedShare(orders), "low is shed before normal")

	link.delay.Store(0)
	accepted := ledger.accepted.Load() + orders.accepted.Load() + analytics.accepted.Load()
	require.Len(t, storedEvents(t, b.srv.Bus().JetStream(), "events.>"), int(accepted), "every accepted event is stored, nothing else")
}

// TestSlowBusShedsLowThenNormalAndRecovers slows the bus's acks down: as the
// time to store an event grows past the shedding points, low-priority sources
// are refused, then normal ones, while essential ones keep flowing; when the
// bus is fast again, everyone is admitted again.
func TestSlowBusShedsLowThenNormalAndRecovers(t *testing.T) {
	t.Parallel()
	b, link := startBehindSlowLink(t, 1000, 100*time.Millisecond)
	link.delay.Store(int64(250 * time.Millisecond))

	n := 0
	essentialUntil := func(want float64) {
		weirtest.EventuallyTrue(t, 30*time.Second, func() bool {
			n++
			require.Equal(t, http.StatusAccepted, post(t, b.base, "ledger", n).status, "essential events flow")
			return pressure(t, b) >= want
		}, "the acks slow down")
	}
	essentialUntil(0.6)
	requireShed(t, post(t, b.base, "analytics", 0), "10")
	essentialUntil(0.9)
	requireShed(t, post(t, b.base, "orders", 0), "5")
	require.Equal(t, http.StatusAccepted, post(t, b.base, "ledger", 0).status)

	link.delay.Store(0)
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool {
		return post(t, b.base, "analytics", 0).status == http.StatusAccepted
	}, "low-priority events are admitted again once the bus is fast")
	// The pressure is a moving measure of ack times: on a busy machine one slow
	// ack can still lift it for a moment, so normal ones are polled too.
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool {
		return post(t, b.base, "orders", 0).status == http.StatusAccepted
	}, "normal-priority events are admitted again once the bus is fast")
}

// pressure reads weir_ingress_pressure from /metrics.
func pressure(t *testing.T, b *bundle) float64 {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(do(t, mustGet(t, b.base+"/metrics")).raw))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "weir_ingress_pressure "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	t.Fatal("no weir_ingress_pressure in /metrics")
	return 0
}

// TestSlowBodyGets408AndFreesItsSlot: a sender that stops halfway through its
// body is answered 408 once server.body_timeout has passed, and the pending slot
// it held is free again.
func TestSlowBodyGets408AndFreesItsSlot(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(shedConfig), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	cfg.Server.BodyTimeout = 300 * time.Millisecond
	b := start(t, cfg)

	c, err := net.Dial("tcp", strings.TrimPrefix(b.base, "http://"))
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "POST /in/orders HTTP/1.1\r\nHost: weir\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"n\":")
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode, string(raw))
	require.Contains(t, string(raw), `"type":"https://weir.dev/problems/body-timeout"`)
	require.Contains(t, string(raw), `"field":"body"`)

	weirtest.EventuallyTrue(t, 10*time.Second, func() bool {
		return strings.Contains(string(do(t, mustGet(t, b.base+"/metrics")).raw), "weir_ingress_pending 0")
	}, "the slot is released")
	require.Equal(t, http.StatusAccepted, post(t, b.base, "orders", 1).status)
}

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/verify"
	"github.com/weir-dev/weir/internal/weirtest"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ds := make([]time.Duration, 0, 100)
	for i := 100; i >= 1; i-- { // unsorted on purpose: summarize sorts
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	s := summarize(ds)
	require.Equal(t, 100, s.n)
	require.Equal(t, 50*time.Millisecond, s.p50)
	require.Equal(t, 90*time.Millisecond, s.p90)
	require.Equal(t, 99*time.Millisecond, s.p99)
	require.Equal(t, 100*time.Millisecond, s.max)

	one := summarize([]time.Duration{7})
	require.Equal(t, time.Duration(7), one.p50)
	require.Equal(t, time.Duration(7), one.p99)
	require.Equal(t, summary{}, summarize(nil))
	require.Equal(t, time.Duration(0), percentile(nil, 50))
}

func TestClassify(t *testing.T) {
	t.Parallel()
	problem := []byte(`{"type":"https://weir.dev/problems/bus-unavailable","title":"Service Unavailable","status":503}`)
	require.Equal(t, "503 bus-unavailable", classifyStatus(503, problem))
	require.Equal(t, "429 rate-limited", classifyStatus(429, []byte(`{"type":"https://weir.dev/problems/rate-limited"}`)))
	require.Equal(t, "502 bad-gateway", classifyStatus(502, []byte("<html>proxy</html>")))
	require.Equal(t, "599 unknown-status", classifyStatus(599, nil))

	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "http://127.0.0.1:1/in/bench",
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}}
	}
	require.Equal(t, "transport: connection refused", classifyTransport(wrap(syscall.ECONNREFUSED)))
	require.Equal(t, "transport: connection reset", classifyTransport(wrap(syscall.ECONNRESET)))
	require.Equal(t, "transport: connection closed", classifyTransport(&url.Error{Op: "Post", Err: io.EOF}))
	require.Equal(t, "transport: timeout", classifyTransport(&url.Error{Op: "Post", Err: context.DeadlineExceeded}))
	require.Equal(t, "transport: something odd", classifyTransport(&url.Error{Op: "Post", URL: "u", Err: errors.New("dial: something odd")}),
		"an unknown error keeps its last part")
}

// TestSignedRequestVerifies checks the sender's hand-rolled signing against
// weir's own verifier, and the body's padding.
func TestSignedRequestVerifies(t *testing.T) {
	t.Parallel()
	secret := newWhsec()
	key, err := standardKey(secret)
	require.NoError(t, err)
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	tbl := newEventTable()
	spec := &loadSpec{url: srv.URL, key: key, conns: 1, size: 256, table: tbl}
	w := newWorker(spec, srv.Client())
	for range 2 { // the second request reuses the worker's HMAC and buffers
		w.send(context.Background(), time.Now(), true)
		require.Len(t, body, 256)
		v, err := verify.New(verify.Config{Scheme: verify.SchemeStandardWebhooks, Secrets: []string{secret}})
		require.NoError(t, err)
		require.NoError(t, v.Verify(got.Header, body, time.Now()))
		require.True(t, strings.HasPrefix(got.Header.Get("webhook-id"), "msg_"+tbl.run+"_"))
		var payload struct {
			N   int64  `json:"n"`
			Run string `json:"run"`
		}
		require.NoError(t, json.Unmarshal(body, &payload))
		require.Equal(t, tbl.run, payload.Run)
	}
	require.EqualValues(t, 2, w.accepted)
	require.EqualValues(t, 2, tbl.nAcked.Load())

	// A body smaller than its fields is not padded, and stays valid JSON.
	spec.size = 10
	require.True(t, json.Valid(newWorker(spec, srv.Client()).body(12345)))
}

// TestReceiver feeds the receiver deliveries by hand: good, duplicate,
// badly signed, from another run.
func TestReceiver(t *testing.T) {
	t.Parallel()
	secret := newWhsec()
	r, err := startReceiver("127.0.0.1:0", secret)
	require.NoError(t, err)
	defer r.close()
	tbl := newEventTable()
	r.track(tbl)
	n, ok := tbl.take(time.Now(), true)
	require.True(t, ok)
	tbl.ack(n, time.Now())

	deliver := func(body string, sign bool) int {
		req := httptest.NewRequest(http.MethodPost, "/bench", strings.NewReader(body))
		if sign {
			h, err := verify.Sign(verify.Config{Scheme: verify.SchemeStandardWebhooks, Secrets: []string{secret}},
				[]byte(body), time.Now(), "01EVENT")
			require.NoError(t, err)
			req.Header = h
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec.Code
	}
	ev := `{"specversion":"1.0","id":"01EVENT","data":{"n":0,"run":"` + tbl.run + `","pad":"x"}}`
	require.False(t, tbl.allReceived())
	require.Equal(t, http.StatusNoContent, deliver(ev, true))
	require.True(t, tbl.allReceived())
	require.Equal(t, http.StatusNoContent, deliver(ev, true))
	require.EqualValues(t, 1, tbl.nDup.Load())
	require.Equal(t, http.StatusUnauthorized, deliver(ev, false))
	require.Equal(t, http.StatusNoContent, deliver(`{"data":{"n":0,"run":"other"}}`, true))
	require.EqualValues(t, 1, r.foreign.Load())
	require.Equal(t, map[string]int64{"delivery: signature-invalid": 1}, tbl.receiverErrors())
}

func TestOptionsNameTheFlag(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Rate: -1}, "--rate must be >= 0"},
		{Options{Connections: -3}, "--connections must be >= 1"},
		{Options{Target: "localhost:8080", Source: "s", Secret: "whsec_eA=="}, "--target"},
		{Options{Target: "http://127.0.0.1:8080", Secret: "whsec_eA=="}, "--source is required"},
		{Options{Target: "http://127.0.0.1:8080", Source: "s", Secret: "whsec_eA==", Suite: true}, "--suite"},
		{Options{Suite: true, Crash: 1}, "--crash and --suite"},
		{Options{IngressOnly: true, Suite: true}, "--ingress-only"},
		{Options{IngressOnly: true, Crash: 2}, "--ingress-only"},
		{Options{BusSync: "sometimes"}, "--bus-sync must be always or a positive duration"},
		{Options{Target: "http://127.0.0.1:8080", Source: "s", Secret: "whsec_eA==", BusSync: "always"}, "--bus-sync"},
	} {
		err := c.o.withDefaults().validate()
		require.ErrorContains(t, err, c.want)
	}
	require.NoError(t, Options{}.withDefaults().validate())
	short := Options{Short: true}.withDefaults()
	require.Equal(t, shortDuration, short.Duration)
	require.Equal(t, shortDrainEvents, short.DrainEvents)
	require.Equal(t, float64(500), short.suiteRate(5000))
}

// TestBusSyncReachesWeir: --bus-sync is written into the child's weir.yaml
// as bus.sync, which weir reads back as the embedded server's sync policy.
func TestBusSyncReachesWeir(t *testing.T) {
	t.Parallel()
	for _, sync := range []string{"always", "1s", ""} {
		o := Options{BusSync: sync}.withDefaults()
		require.NoError(t, o.validate())
		w := weirConfig{dataDir: t.TempDir(), addr: "127.0.0.1:0", token: newToken(), sourceSecret: newWhsec(),
			backlogSecret: newWhsec(), busSync: o.BusSync}
		cfg, err := config.Parse([]byte(w.yaml()), func(string) (string, bool) { return "", false })
		require.NoError(t, err, w.yaml())
		want := sync
		if want == "" {
			want = "1s"
		}
		require.Equal(t, want, cfg.Bus.Sync)
	}
}

// TestAgainstTheRealBinary runs the short suite and a short crash run on the
// real weir binary. It asserts what must hold whatever the machine's speed:
// no errors, every acked event delivered, a report that reads back.
func TestAgainstTheRealBinary(t *testing.T) {
	t.Parallel()
	bin := weirtest.BuildWeir(t) // skips under -short
	var log bytes.Buffer

	t.Run("suite", func(t *testing.T) {
		rep, err := Run(context.Background(), Options{Weir: bin, Suite: true, Short: true, Connections: 16,
			DrainTimeout: 60 * time.Second, Log: &log})
		require.NoError(t, err, log.String())
		names := []string{}
		for _, s := range rep.Scenarios {
			names = append(names, s.Name)
			require.Positive(t, s.Accepted, s.Name)
			if runtime.GOOS == "linux" {
				require.NotNil(t, s.PeakRSSMB, s.Name)
				require.Positive(t, *s.PeakRSSMB, s.Name)
			}
			if s.Target == "weir" {
				require.Empty(t, s.Errors, s.Name)
				require.NotNil(t, s.RatioToCeiling, s.Name)
				require.Positive(t, *s.RatioToCeiling, s.Name)
				switch s.Name {
				case "ingress-saturation":
					require.Zero(t, s.Delivered, "no subscription, nothing delivered")
				case "saturation":
					// Delivery is reported, not asserted: how far push falls
					// behind depends on the machine, and the bench's own wait
					// is bounded.
				default:
					require.Equal(t, s.Accepted, s.Delivered, "%s: every accepted event was delivered", s.Name)
					for _, n := range s.Notes {
						require.NotContains(t, n, "not been delivered", s.Name)
					}
				}
			}
		}
		require.Equal(t, []string{"ceiling", "ingress-saturation", "saturation", "rate-500", "rate-200", "push-drain"}, names)
		drain := rep.Scenarios[5]
		require.EqualValues(t, shortDrainEvents, drain.Accepted)
		require.Positive(t, drain.DeliveredPerS)

		var buf bytes.Buffer
		require.NoError(t, rep.WriteJSON(&buf))
		var generic map[string]any
		require.NoError(t, json.Unmarshal(buf.Bytes(), &generic))
		machine := generic["machine"].(map[string]any)
		for _, k := range []string{"cpus", "go", "weir_version"} {
			require.Contains(t, machine, k)
		}
		require.Contains(t, generic, "started_at")
		scenarios := generic["scenarios"].([]any)
		require.Len(t, scenarios, 6)
		for _, k := range []string{"name", "target", "rate", "connections", "duration_s", "sent", "accepted",
			"accepted_per_s", "ingress_p50_ms", "ingress_p90_ms", "ingress_p99_ms", "ingress_max_ms", "delivered",
			"delivered_per_s", "duplicates", "e2e_p50_ms", "e2e_p99_ms", "e2e_max_ms", "errors", "peak_rss_mb",
			"cpu_s", "bench_cpu_s", "ratio_to_ceiling", "rss_mb_samples", "rss_mb_at_20pct", "rss_mb_at_end"} {
			require.Contains(t, scenarios[1], k)
		}
		var back Report
		require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
		var again bytes.Buffer
		require.NoError(t, back.WriteJSON(&again))
		require.JSONEq(t, buf.String(), again.String())

		var table bytes.Buffer
		require.NoError(t, rep.WriteTable(&table))
		require.Contains(t, table.String(), "push-drain")
	})

	t.Run("crash", func(t *testing.T) {
		log.Reset()
		rep, err := Run(context.Background(), Options{Weir: bin, Crash: 2, Rate: 300, Duration: 3 * time.Second,
			Warmup: 200 * time.Millisecond, Connections: 16, DrainTimeout: 60 * time.Second, Log: &log})
		require.NoError(t, err, log.String())
		require.Len(t, rep.Scenarios, 1)
		c := rep.Scenarios[0].Crash
		require.NotNil(t, c)
		require.Equal(t, 2, c.Kills)
		require.Positive(t, c.Acked)
		require.Zero(t, c.Lost)
		require.Equal(t, c.Acked, c.Delivered)
	})
}

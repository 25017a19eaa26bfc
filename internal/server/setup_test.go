package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/verify"
)

// Secrets used across the tests.
const (
	shopSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	adminSecret = "test-admin-token-0123456789"
	pubSecret   = "test-publish-token-0123456789"
)

// testConfig is a configuration with one source of each kind the tests use.
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	yaml := `
server: {addr: "127.0.0.1:0", shutdown_timeout: 10s}
log: {level: error}
tokens:
  - {name: admin, secret: ` + adminSecret + `, roles: [admin]}
  - {name: orders-app, secret: ` + pubSecret + `, roles: ["publish:order.*"]}
sources:
  shop:
    verify: {scheme: standard-webhooks, secrets: ["` + shopSecret + `"]}
    type: order.created
  gh:
    verify: {scheme: github, secrets: [gh-secret]}
    type_from: header:X-GitHub-Event
    type_prefix: github.
  small:
    verify: {scheme: none}
    type: small.thing
    max_body: 64
  open:
    verify: {scheme: none}
    type_from: json:/kind
    idempotency_key: json:/ref
`
	cfg, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	return cfg
}

// bundle is a running node and what tests need to talk to it.
type bundle struct {
	srv  *Server
	cfg  *config.Config
	base string
	out  *bytes.Buffer
}

// start runs a node on cfg and stops it when the test ends.
func start(t *testing.T, cfg *config.Config) *bundle {
	t.Helper()
	return startWithLog(t, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
}

// startWithLog is start with weir's log going to log.
func startWithLog(t *testing.T, cfg *config.Config, log *slog.Logger) *bundle {
	t.Helper()
	out := &bytes.Buffer{}
	srv := New(cfg, log, out)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, srv.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	return &bundle{srv: srv, cfg: cfg, base: "http://" + srv.Addr(), out: out}
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r.body)
	}
	return r
}

// signedRequest builds a webhook to source name, signed with scheme cfg.
func signedRequest(t *testing.T, base, name string, vc verify.Config, body []byte, id string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/in/"+name, bytes.NewReader(body))
	require.NoError(t, err)
	h, err := verify.Sign(vc, body, at, id)
	require.NoError(t, err)
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	return req
}

var shopScheme = verify.Config{Scheme: "standard-webhooks", Secrets: []string{shopSecret}}

// sendShop posts a signed order to the shop source.
func (b *bundle) sendShop(t *testing.T, body, id string) response {
	t.Helper()
	return do(t, signedRequest(t, b.base, "shop", shopScheme, []byte(body), id, time.Now()))
}

// storedEvents reads every event stored on subject filter (e.g. "events.>").
func storedEvents(t *testing.T, js jetstream.JetStream, filter string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	require.NoError(t, err)
	var total uint64
	for _, n := range info.State.Subjects {
		total += n
	}
	if total == 0 {
		return nil
	}
	c, err := js.OrderedConsumer(ctx, bus.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	require.NoError(t, err)
	var out []map[string]any
	// Messages may be purged meanwhile (retention): stop when a fetch brings
	// nothing, and never wait past the context's deadline.
	for uint64(len(out)) < total && ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		batch, err := c.Fetch(int(total)-len(out), jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			break
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var ev map[string]any
			require.NoError(t, json.Unmarshal(m.Data(), &ev), "stored message is a CloudEvent in JSON")
			out = append(out, ev)
		}
		cancel()
		if n == 0 {
			break
		}
	}
	return out
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func stringsReader(s string) io.Reader { return bytes.NewReader([]byte(s)) }

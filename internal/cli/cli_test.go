package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/server"
	"github.com/weir-dev/weir/internal/weirtest"
)

// TestSendThenTail is the README's quick start: a source signed the Standard
// Webhooks way, `weir send` posting a file, `weir tail` printing the event.
func TestSendThenTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "weir.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(`
data_dir: `+filepath.Join(dir, "data")+`
server: {addr: "127.0.0.1:0"}
bus: {listen: "127.0.0.1:0"}
log: {level: error}
sources:
  shop:
    verify: {scheme: standard-webhooks, secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]}
    type: order.created
`), 0o600))
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	srv := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	busURL := srv.Bus().ClientURL()
	require.NotContains(t, busURL, ":4222", "weir never picks 4222 for its embedded bus")

	// The exposed bus takes the credentials weir generated, readable by its
	// owner only; tail finds them through the configuration's data_dir.
	fi, err := os.Stat(filepath.Join(dir, "data", bus.CredentialsFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	_, err = nats.Connect(busURL, nats.MaxReconnects(0))
	require.ErrorIs(t, err, nats.ErrAuthorization, "an anonymous NATS client is refused")
	var tailErr bytes.Buffer
	require.Equal(t, 1, Main([]string{"tail", "--bus", busURL, "--user", "weir", "--password", "wrong-password"}, io.Discard, &tailErr))
	require.Contains(t, tailErr.String(), "Authorization Violation")

	// tail runs until it has printed one event.
	tailOut := &weirtest.LockedBuffer{}
	tailDone := make(chan int, 1)
	go func() {
		tailDone <- Main([]string{"tail", "--config", cfgPath, "--bus", busURL, "-n", "1", "order.*"}, tailOut, io.Discard)
	}()

	order := filepath.Join(dir, "order.json")
	require.NoError(t, os.WriteFile(order, []byte(`{"order":1042,"total":129.9}`), 0o600))
	var sendOut bytes.Buffer
	// tail subscribes asynchronously and prints new events only; send until one shows.
	require.Eventually(t, func() bool {
		sendOut.Reset()
		code := Main([]string{"send", "--config", cfgPath, "--url", "http://" + srv.Addr(), "--source", "shop", order}, &sendOut, io.Discard)
		require.Equal(t, 0, code, sendOut.String())
		return strings.Contains(tailOut.String(), "order.created")
	}, 20*time.Second, 200*time.Millisecond)
	require.Contains(t, sendOut.String(), "202 Accepted")
	require.Equal(t, 0, <-tailDone)

	var ev map[string]any
	line, _, _ := strings.Cut(tailOut.String(), "\n")
	require.NoError(t, json.Unmarshal([]byte(line), &ev), "tail prints CloudEvents JSON")
	require.Equal(t, "/sources/shop", ev["source"])
	require.Equal(t, map[string]any{"order": 1042.0, "total": 129.9}, ev["data"])

	// Repeating a delivery id shows de-duplication.
	sendOut.Reset()
	require.Equal(t, 0, Main([]string{"send", "--config", cfgPath, "--url", "http://" + srv.Addr(), "--source", "shop", "--id", "same", order}, &sendOut, io.Discard))
	sendOut.Reset()
	require.Equal(t, 0, Main([]string{"send", "--config", cfgPath, "--url", "http://" + srv.Addr(), "--source", "shop", "--id", "same", order}, &sendOut, io.Discard))
	require.Contains(t, sendOut.String(), `"status":"duplicate"`)
}

func TestServeRefusesInvalidConfig(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "weir.yaml")
	require.NoError(t, os.WriteFile(p, []byte("sources: {shop: {verify: {scheme: sha1}, type: a}}\n"), 0o600))
	var stderr bytes.Buffer
	code := Main([]string{"serve", "--config", p}, io.Discard, &stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stderr.String(), "sources.shop.verify.scheme: unknown scheme \"sha1\"")
}

// TestServeChecksTheWholeFileFirst: what only the delivery parts know (a
// deny entry, a push URL the policy refuses) is refused with the file's
// name before the data directory or the admin token exists.
func TestServeChecksTheWholeFileFirst(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"delivery: {deny: [notacidr]}\n":                   `delivery.deny[0]: "notacidr" is not an address or CIDR prefix`,
		"contracts: {order.created: {schema: bad.json}}\n": "contracts.order.created.schema: the schema is not valid",
		"subscriptions:\n  f:\n    types: [x]\n    push: {url: 'http://169.254.169.254/', secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}\n": "subscriptions.f.push.url: delivery target denied",
	} {
		dir := t.TempDir()
		p := filepath.Join(dir, "weir.yaml")
		data := filepath.Join(dir, "data")
		require.NoError(t, os.WriteFile(p, []byte("server: {addr: '127.0.0.1:0'}\n"+in), 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"type":"objekt"}`), 0o600))
		var stdout, stderr bytes.Buffer
		require.Equal(t, 1, Main([]string{"serve", "--config", p, "--data", data}, &stdout, &stderr), in)
		require.Contains(t, stderr.String(), p+": "+want, in)
		require.NotContains(t, stdout.String(), "admin token", in)
		_, err := os.Stat(data)
		require.True(t, os.IsNotExist(err), "%s: the data directory was created: %v", in, err)
	}
}

func TestTailNeedsAnExposedBus(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "weir.yaml")
	require.NoError(t, os.WriteFile(p, []byte("log: {level: error}\n"), 0o600))
	var stderr bytes.Buffer
	require.Equal(t, 1, Main([]string{"tail", "--config", p}, io.Discard, &stderr))
	require.Contains(t, stderr.String(), "set bus.listen")
}

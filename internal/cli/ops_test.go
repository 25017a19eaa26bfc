package cli

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// quarantine sends an order that breaks its contract and returns the dead
// letter's id.
func quarantine(t *testing.T, base, body string) string {
	t.Helper()
	resp, err := http.Post(base+"/in/shop", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	var id string
	require.Eventually(t, func() bool {
		status, raw := get(t, base+"/v1/deadletters")
		var out struct {
			DeadLetters []struct{ ID string } `json:"dead_letters"`
		}
		_ = json.Unmarshal(raw, &out)
		if status != http.StatusOK || len(out.DeadLetters) == 0 {
			return false
		}
		id = out.DeadLetters[0].ID
		return true
	}, 20*time.Second, 20*time.Millisecond)
	return id
}

const shopWithContract = `
sources:
  shop: {verify: {scheme: none}, type: order.created}
contracts:
  order.created: {schema: order.json}
`

var orderSchema = map[string]string{"order.json": `{"type":"object","properties":{"total":{"type":"integer"}}}`}

// weir deadletters show prints the stored event as stored: 129.90 stays
// 129.90 and keys keep their order.
func TestDeadLettersShowPrintsAsStored(t *testing.T) {
	t.Parallel()
	base := runWeir(t, shopWithContract, orderSchema)
	id := quarantine(t, base, `{"zeta":"last key first","total":129.90,"alpha":1e2}`)

	var stdout, stderr bytes.Buffer
	code := Main([]string{"deadletters", "show", id, "--server", base, "--token", adminToken}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	out := stdout.String()
	require.Contains(t, out, `"total": 129.90`)
	require.Contains(t, out, `"alpha": 1e2`)
	require.Less(t, strings.Index(out, `"zeta"`), strings.Index(out, `"total"`), "keys keep their order")
	require.Less(t, strings.Index(out, `"total"`), strings.Index(out, `"alpha"`), "keys keep their order")
	require.True(t, json.Valid(stdout.Bytes()), out)
}

// Client commands read only the ${NAME} variables of what they use.
func TestClientsNeedOnlyTheirVariables(t *testing.T) {
	base := runWeir(t, `
sources:
  shop: {verify: {scheme: standard-webhooks, secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]}, type: order.created}
`, nil)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "weir.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
tokens: [{name: admin, secret: "${CLI_TEST_UNSET_ADMIN}", roles: [admin]}]
sources:
  shop: {verify: {scheme: standard-webhooks, secrets: ["${CLI_TEST_SHOP_SECRET}"]}, type: order.created}
  gh: {verify: {scheme: github, secrets: ["${CLI_TEST_UNSET_GH}"]}, type: push}
subscriptions:
  app: {types: [order.*], push: {url: "http://127.0.0.1:9/", secret: "${CLI_TEST_UNSET_APP}"}}
`), 0o600))
	order := filepath.Join(dir, "order.json")
	require.NoError(t, os.WriteFile(order, []byte(`{"order":1}`), 0o600))
	t.Setenv("CLI_TEST_SHOP_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")

	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, Main([]string{"send", "--config", cfg, "--server", base, "--source", "shop", order}, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "202 Accepted")

	stderr.Reset()
	require.Equal(t, 1, Main([]string{"send", "--config", cfg, "--server", base, "--source", "gh", order}, &bytes.Buffer{}, &stderr))
	require.Contains(t, stderr.String(), "sources.gh.verify.secrets[0]: environment variable CLI_TEST_UNSET_GH is not set")

	stderr.Reset()
	require.Equal(t, 0, Main([]string{"deadletters", "ls", "--config", cfg, "--server", base, "--token", adminToken}, &stdout, &stderr), stderr.String())

	stderr.Reset()
	require.Equal(t, 1, Main([]string{"serve", "--config", cfg}, &bytes.Buffer{}, &stderr), "serve still needs them all")
	require.Contains(t, stderr.String(), "environment variable CLI_TEST_UNSET_")
}

// Client commands find weir with --server, else $WEIR_URL, else weir.yaml's
// server.addr; serve --addr is reached through either of the first two.
func TestClientsFindTheServer(t *testing.T) {
	base := runWeir(t, shopWithContract, orderSchema)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	closed := "http://127.0.0.1:1"
	dir := t.TempDir()
	withAddr := func(addr string) string {
		p := filepath.Join(dir, strings.NewReplacer(":", "_", ".", "_").Replace(addr)+".yaml")
		require.NoError(t, os.WriteFile(p, []byte(`server: {addr: "`+addr+`"}`+"\n"), 0o600))
		return p
	}
	ls := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := Main(append([]string{"deadletters", "ls", "--token", adminToken}, args...), &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}

	t.Setenv(envURL, "")
	code, out := ls("--config", withAddr(":"+port))
	require.Equal(t, 0, code, "weir.yaml's address, a listener on every interface reached on loopback: %s", out)
	code, _ = ls("--config", withAddr("127.0.0.1:1"))
	require.Equal(t, 1, code)

	t.Setenv(envURL, base+"/")
	code, out = ls("--config", withAddr("127.0.0.1:1"))
	require.Equal(t, 0, code, "$WEIR_URL beats weir.yaml: %s", out)

	t.Setenv(envURL, closed)
	code, out = ls("--config", withAddr("127.0.0.1:1"), "--server", base)
	require.Equal(t, 0, code, "--server beats $WEIR_URL: %s", out)
	code, _ = ls("--config", withAddr(":"+port))
	require.Equal(t, 1, code, "$WEIR_URL is used when set")

	// replay and send read the same.
	t.Setenv(envURL, base)
	var stderr bytes.Buffer
	require.Equal(t, 1, Main([]string{"replay", "nope", "--from", "1", "--config", withAddr("127.0.0.1:1"), "--token", adminToken}, &bytes.Buffer{}, &stderr))
	require.Contains(t, stderr.String(), "weir answered 404", "the request reached weir")
	order := filepath.Join(dir, "order.json")
	require.NoError(t, os.WriteFile(order, []byte(`{"total":1}`), 0o600))
	var stdout bytes.Buffer
	require.Equal(t, 0, Main([]string{"send", "--config", withAddr("127.0.0.1:1"), "--source", "shop", "--scheme", "none", order}, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "202 Accepted")
}

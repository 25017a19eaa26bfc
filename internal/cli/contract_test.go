package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/server"
)

const adminToken = "cli-test-admin-token-0123"

// runWeir starts a weir node from a weir.yaml text in its own folder, with files.
func runWeir(t *testing.T, yaml string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	p := filepath.Join(dir, "weir.yaml")
	require.NoError(t, os.WriteFile(p, []byte("data_dir: "+filepath.Join(dir, "data")+"\nserver: {addr: \"127.0.0.1:0\"}\nlog: {level: error}\n"+
		"tokens: [{name: admin, secret: "+adminToken+", roles: [admin]}]\n"+yaml), 0o600))
	cfg, err := config.Load(p)
	require.NoError(t, err)
	srv := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return "http://" + srv.Addr()
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestAsyncAPIDocumentIsValidAndImportsBack renders the catalog of a weir with
// several contracts, sources and subscriptions, checks it with the official
// AsyncAPI parser (npm @asyncapi/parser), and imports it into a second weir with
// `weir contract import`: the same contracts come back.
func TestAsyncAPIDocumentIsValidAndImportsBack(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; scripts/test installs it")
	}
	tool, err := filepath.Abs("../../tools/asyncapi")
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(tool, "node_modules", "@asyncapi", "parser")); err != nil {
		out, err := exec.Command("npm", "ci", "--prefix", tool, "--no-audit", "--no-fund", "--ignore-scripts").CombinedOutput()
		require.NoError(t, err, string(out))
	}
	base := runWeir(t, `
sources:
  shop: {verify: {scheme: none}, type: order.created}
  gh: {verify: {scheme: github, secrets: [s3cret]}, type_from: "header:X-GitHub-Event", type_prefix: github.}
contracts:
  order.created: {schema: order.json, owner: team-orders, description: An order was placed.}
  order.shipped: {schema: shipped.json, compatibility: FULL}
  invoice.paid: {schema: invoice.json, deprecated: {sunset: "2099-01-01", note: use invoice.settled}}
subscriptions:
  billing: {types: ["invoice.*"], pull: {}}
  everything: {types: [">"], pull: {}}
`, map[string]string{
		"order.json":   `{"type":"object","properties":{"order":{"type":"integer"},"total":{"type":"number"}},"required":["order"]}`,
		"shipped.json": `{"type":"object","properties":{"carrier":{"$ref":"#/$defs/carrier"}},"$defs":{"carrier":{"enum":["dhl","ups"]}}}`,
		"invoice.json": `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"amount":{"type":"number"}}}`,
	})
	status, doc := get(t, base+"/v1/asyncapi")
	require.Equal(t, 200, status, string(doc))
	file := filepath.Join(t.TempDir(), "asyncapi.json")
	require.NoError(t, os.WriteFile(file, doc, 0o600))
	out, err := exec.Command(node, filepath.Join(tool, "validate.mjs"), file).CombinedOutput()
	require.NoError(t, err, "the official AsyncAPI parser reports: %s", out)

	other := runWeir(t, "", nil)
	var stdout, stderr bytes.Buffer
	code := Main([]string{"contract", "import", "--server", other, "--token", adminToken, file}, &stdout, &stderr)
	require.Equal(t, 0, code, stdout.String()+stderr.String())
	for _, typ := range []string{"order.created", "order.shipped", "invoice.paid"} {
		_, a := get(t, base+"/v1/contracts/"+typ+"/versions/latest")
		st, b := get(t, other+"/v1/contracts/"+typ+"/versions/latest")
		require.Equal(t, 200, st, typ)
		var va, vb map[string]any
		require.NoError(t, json.Unmarshal(a, &va))
		require.NoError(t, json.Unmarshal(b, &vb))
		require.Equal(t, va["fingerprint"], vb["fingerprint"], "%s imports back as the same schema", typ)
	}
}

// TestContractCheckGate is the CI gate: a breaking change exits 1 with every
// reason; a compatible one exits 0; against a running weir as well.
func TestContractCheckGate(t *testing.T) {
	t.Parallel()
	base, head := t.TempDir(), t.TempDir()
	write := func(dir, name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	write(base, "order.created.json", `{"type":"object","properties":{"total":{"type":"number"}},"additionalProperties":false}`)
	write(head, "order.created.json", `{"type":"object","properties":{"total":{"type":"integer"}},"additionalProperties":false}`)
	write(head, "order.new.json", `{"type":"object"}`)
	var out bytes.Buffer
	code := Main([]string{"contract", "check", "--base", base, head}, &out, io.Discard)
	require.Equal(t, 1, code, out.String())
	text := out.String()
	require.Contains(t, text, "BREAK order.created")
	require.Contains(t, text, "/properties/total")
	require.Contains(t, text, "fix:")
	require.Contains(t, text, "new   order.new")

	write(head, "order.created.json", `{"type":"object","properties":{"total":{"type":"number"},"note":{"type":"string"}},"additionalProperties":false}`)
	out.Reset()
	require.Equal(t, 0, Main([]string{"contract", "check", "--base", base, head}, &out, io.Discard), out.String())
	require.Contains(t, out.String(), "ok    order.created")

	srv := runWeir(t, "contracts:\n  order.created: {schema: o.json}\n", map[string]string{"o.json": `{"type":"object","properties":{"total":{"type":"number"}},"additionalProperties":false}`})
	write(head, "order.created.json", `{"type":"object","properties":{"total":{"type":"string"}},"additionalProperties":false}`)
	out.Reset()
	code = Main([]string{"contract", "check", "--server", srv, "--token", adminToken, filepath.Join(head, "order.created.json")}, &out, io.Discard)
	require.Equal(t, 1, code, out.String())
	require.True(t, strings.Contains(out.String(), "BREAK order.created"), out.String())
}

// TestContractCheckRefusesBrokenInput: a new file that is not a valid schema,
// and a --base folder that is missing or empty, fail the gate instead of
// passing as "new"; --allow-empty-base is the first run's way through.
func TestContractCheckRefusesBrokenInput(t *testing.T) {
	t.Parallel()
	base, head := t.TempDir(), t.TempDir()
	write := func(dir, name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	write(base, "order.created.json", `{"type":"object"}`)
	write(head, "order.created.json", `{"type":"object"}`)
	write(head, "order.typo.json", `{"type":"objekt"}`)
	write(head, "order.broken.json", `{not json`)
	var out, stderr bytes.Buffer
	require.Equal(t, 1, Main([]string{"contract", "check", "--base", base, head}, &out, &stderr), out.String())
	require.Contains(t, out.String(), "BAD   order.typo (")
	require.Contains(t, out.String(), "BAD   order.broken (")
	require.Contains(t, out.String(), "not valid JSON")
	require.Contains(t, out.String(), "ok    order.created")
	require.NotContains(t, out.String(), "new   ")

	write(head, "order.typo.json", `{"type":"object"}`)
	require.NoError(t, os.Remove(filepath.Join(head, "order.broken.json")))
	for _, b := range []string{filepath.Join(base, "does-not-exist"), t.TempDir()} {
		out.Reset()
		stderr.Reset()
		require.Equal(t, 1, Main([]string{"contract", "check", "--base", b, head}, &out, &stderr), b)
		require.Contains(t, stderr.String(), "--base "+b)
		require.Contains(t, stderr.String(), "--allow-empty-base")
		out.Reset()
		require.Equal(t, 0, Main([]string{"contract", "check", "--base", b, "--allow-empty-base", head}, &out, io.Discard), out.String())
		require.Contains(t, out.String(), "new   order.typo")
	}
}

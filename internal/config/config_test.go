package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestEmptyConfigHasDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Parse(nil, env(nil))
	require.NoError(t, err)
	require.Equal(t, "./weir-data", cfg.DataDir)
	require.Equal(t, "127.0.0.1:8080", cfg.Server.Addr)
	require.Equal(t, int64(1<<20), cfg.Ingress.MaxBody)
	require.Equal(t, 24*time.Hour, cfg.Ingress.DedupeWindow)
	require.Equal(t, 5*time.Minute, cfg.Ingress.Tolerance)
	require.Empty(t, cfg.Bus.URL, "the embedded bus is the default")
	require.Empty(t, cfg.Bus.Listen, "the embedded bus is not exposed by default")
}

func TestEnvExpansionInValuesOnly(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
tokens:
  - name: ci
    secret: ${CI_TOKEN}
    roles: [admin]
sources:
  shop:
    verify: {scheme: standard-webhooks, secrets: [${SHOP_SECRET}, "literal$$dollar", "a${CI_TOKEN}b"]}
    type: order.created
    dedupe_window: 1h
`), env(map[string]string{"CI_TOKEN": "0123456789012345678", "SHOP_SECRET": "whsec_a: b # not yaml"}))
	require.NoError(t, err)
	require.Equal(t, "0123456789012345678", cfg.Tokens[0].Secret, "a secret of digits stays a string")
	require.Equal(t, []string{"whsec_a: b # not yaml", "literal$dollar", "a0123456789012345678b"}, cfg.Sources["shop"].Verify.Secrets)
	require.Equal(t, time.Hour, cfg.Sources["shop"].DedupeWindow)
	require.Equal(t, int64(1<<20), cfg.Sources["shop"].MaxBody, "source defaults come from ingress")
}

func TestInvalidConfigNamesTheField(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"sources: {shop: {verify: {scheme: standard-webhooks, secrets: [\"${NOPE}\"]}, type: a}}": "sources.shop.verify.secrets[0]: environment variable NOPE is not set",
		"sources: {shop: {verify: {scheme: hmac256, secrets: [x]}, type: a}}":                     `sources.shop.verify.scheme: unknown scheme "hmac256"`,
		"sources: {shop: {verify: {secrets: [x]}, type: a}}":                                      "sources.shop.verify.scheme: required",
		"sources: {shop: {verify: {scheme: github}, type: a}}":                                    "sources.shop.verify.secrets: at least one secret",
		"sources: {shop: {verify: {scheme: none}}}":                                               "sources.shop.type: required",
		"sources: {shop: {verify: {scheme: none}, type: 'order created'}}":                        "sources.shop.type:",
		"sources: {shop: {verify: {scheme: none}, type: a, type_from: 'header:X'}}":               "sources.shop.type_from: set either",
		"sources: {shop: {verify: {scheme: none}, type_from: 'body:/x'}}":                         "sources.shop.type_from:",
		"sources: {shop: {verify: {scheme: none}, type: a, idempotency_key: 'json:x'}}":           "sources.shop.idempotency_key:",
		"sources: {'bad name': {verify: {scheme: none}, type: a}}":                                "sources.bad name: the name must be",
		"tokens: [{name: a, secret: short, roles: [admin]}]":                                      "tokens[0].secret: must be at least 16",
		"tokens: [{name: a, secret: 0123456789abcdefg, roles: [root]}]":                           `tokens[0].roles[0]: "root" is not a role`,
		"tokens: [{name: a, secret: 0123456789abcdefg, roles: ['publish:order.>.x']}]":            "tokens[0].roles[0]:",
		"server: {addr: 8080}": "server.addr:",
		"server: {adr: x}":     `unknown field "adr"`,
		"bus: {url: 'nats://x:4222', listen: '127.0.0.1:7422'}": "bus.listen: only applies to the embedded bus",
		"bus: {replicas: 3}":                                                 "bus.replicas: the embedded bus",
		"ingress: {dedupe_window: forever}":                                  "duration",
		"log: {level: loud}":                                                 "log.level:",
		"ingress: {max_pending: -1}":                                         "ingress.max_pending: must be positive",
		"delivery: {deny: [10.0.0.0/8, notacidr]}":                           `delivery.deny[1]: "notacidr" is not an address or CIDR prefix`,
		"delivery: {allow: [10.0.0.0/33]}":                                   `delivery.allow[0]: "10.0.0.0/33" is not an address or CIDR prefix`,
		"sources: {shop: {verify: {scheme: none}, type: a, priority: high}}": `sources.shop.priority: "high" is not low, normal or essential`,
	}
	for in, want := range cases {
		_, err := Parse([]byte(in), env(nil))
		require.Error(t, err, in)
		require.Contains(t, err.Error(), want, in)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "weir.yaml")
	require.NoError(t, os.WriteFile(p, []byte("log: {format: xml}\n"), 0o600))
	_, err := Load(p)
	require.ErrorContains(t, err, p+": log.format:")
}

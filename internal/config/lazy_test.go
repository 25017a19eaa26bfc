package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/field"
)

// A command that reads part of weir.yaml needs only the variables of that
// part: weir send the source's secret, weir deadletters none.
func TestLoadLazyNeedsOnlyWhatACommandReads(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "weir.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`
server: {addr: "${WEIR_ADDR}"}
ingress: {max_body: "${MAX_BODY}"}
tokens: [{name: admin, secret: "${ADMIN_TOKEN}", roles: [admin]}]
sources:
  shop: {verify: {scheme: standard-webhooks, secrets: ["${SHOP_SECRET}"]}, type: order.created}
  gh: {verify: {scheme: github, secrets: ["${GH_SECRET}"]}, type: push}
subscriptions:
  app: {types: [order.*], push: {url: "http://127.0.0.1:9000/", secret: "${APP_SECRET}"}}
`), 0o600))
	lookup := env(map[string]string{"SHOP_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})

	_, err := Load(p)
	require.Error(t, err, "serve still needs every variable")

	cfg, err := LoadLazy(p, lookup)
	require.NoError(t, err)
	require.NoError(t, cfg.NeedEnv("sources.shop"))
	require.Equal(t, []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, cfg.Sources["shop"].Verify.Secrets)
	require.Equal(t, "127.0.0.1:8080", cfg.Server.Addr, "an unset field takes its default")
	require.EqualValues(t, 1<<20, cfg.Ingress.MaxBody, "a number field too")

	var unset *UnsetEnvError
	err = cfg.NeedEnv("sources.gh")
	require.ErrorAs(t, err, &unset)
	require.Equal(t, UnsetEnvError{Field: "sources.gh.verify.secrets[0]", Name: "GH_SECRET"}, *unset)
	require.EqualError(t, err, "sources.gh.verify.secrets[0]: environment variable GH_SECRET is not set")
	var fe *field.Error
	require.ErrorAs(t, err, &fe, "the field is a value, as every field error is")
	require.Equal(t, "sources.gh.verify.secrets[0]", fe.Path)
	require.ErrorAs(t, cfg.NeedEnv("bus", "server.addr"), &unset)
	require.Equal(t, "WEIR_ADDR", unset.Name)
	require.ErrorAs(t, cfg.NeedEnv("tokens"), &unset)
	require.Equal(t, "tokens[0].secret", unset.Field)
	require.NoError(t, cfg.NeedEnv("sources.sho", "bus"), "a prefix of a name is not the name")
}

// FuzzParseLazy: the lazy parse never panics, accepts whatever the strict
// one accepts, and reports through NeedEnv the variable the strict one fails on.
func FuzzParseLazy(f *testing.F) {
	f.Add([]byte("sources: {shop: {verify: {scheme: github, secrets: [\"${GH}\"]}, type: push}}\n"))
	f.Add([]byte("server: {addr: \"${ADDR}\"}\ningress: {max_body: ${MAX}}\n"))
	f.Add([]byte("tokens: [{name: a, secret: \"${SET}$$${NOPE}\", roles: [admin]}]\n"))
	lookup := env(map[string]string{"SET": "0123456789abcdef"})
	f.Fuzz(func(t *testing.T, raw []byte) {
		lazy, lerr := parseLazy(raw, lookup, "")
		strict, serr := parse(raw, lookup, "")
		if serr == nil {
			if lerr != nil {
				t.Fatalf("strict accepts, lazy refuses: %v", lerr)
			}
			if lazy.NeedEnv("") != nil || len(lazy.unset) != 0 || strict.Server.Addr != lazy.Server.Addr {
				t.Fatalf("strict and lazy differ")
			}
		}
		var unset *UnsetEnvError
		if errors.As(serr, &unset) && lerr == nil {
			var again *UnsetEnvError
			if !errors.As(lazy.NeedEnv(unset.Field), &again) || *again != *unset {
				t.Fatalf("strict fails on %v, lazy's NeedEnv says %v", unset, lazy.NeedEnv(unset.Field))
			}
		}
	})
}

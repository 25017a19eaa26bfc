package ingress

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/weirtest"
)

// sourcesConfig is a weir.yaml with one declared source, shop.
func sourcesConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`
sources:
  shop:
    verify: {scheme: standard-webhooks, secrets: ["`+benchSecret+`"]}
    type: order.created
`), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	return cfg
}

// openSources runs a sources service on an embedded bus.
func openSources(t *testing.T, maxSources int) (*Sources, *SourceSet) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := bus.Open(t.Context(), bus.Config{
		StoreDir: t.TempDir(), Replicas: 1, MaxAge: time.Hour, DedupeWindow: time.Hour, MaxPayload: 8 << 20, Name: "sources",
	}, log)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return sourcesOn(t, b, maxSources)
}

// sourcesOn runs a sources service on b, as one node of several would.
func sourcesOn(t *testing.T, b *bus.Bus, maxSources int) (*Sources, *SourceSet) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	set := NewSourceSet()
	s := NewSources(b.JetStream(), SourcesConfig{
		Config: sourcesConfig(t), Set: set, PublicURL: "https://hooks.example/", MaxDedupeWindow: 24 * time.Hour, MaxSources: maxSources,
	}, log)
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, s.Stop(context.Background())) })
	return s, set
}

func TestSourcesBoundTheNumberCreated(t *testing.T) {
	t.Parallel()
	s, set := openSources(t, 3)
	for _, n := range []string{"a", "b", "c"} {
		c, err := s.Create(t.Context(), SourceSpec{Name: n, Type: "thing.done", Verify: VerifySpec{Scheme: "github"}}, "admin")
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(c.Secret, "whsec_"), "a generated secret is returned")
		require.Equal(t, "https://hooks.example/in/"+n, c.URL)
		_, served := set.Get(n)
		require.True(t, served, "served as soon as Create returns")
	}
	_, err := s.Create(t.Context(), SourceSpec{Name: "d", Type: "thing.done", Verify: VerifySpec{Scheme: "none"}}, "admin")
	require.ErrorIs(t, err, ErrTooManySources)
	require.NoError(t, s.Delete(t.Context(), "a"))
	_, served := set.Get("a")
	require.False(t, served, "a deleted source stops being served")
	_, err = s.Create(t.Context(), SourceSpec{Name: "d", Type: "thing.done", Verify: VerifySpec{Scheme: "none"}}, "admin")
	require.NoError(t, err, "deleting one makes room")
}

func TestSourcesRefuseConfigNamesAndBadSpecs(t *testing.T) {
	t.Parallel()
	s, _ := openSources(t, 0)
	_, err := s.Create(t.Context(), SourceSpec{Name: "shop", Type: "a.b", Verify: VerifySpec{Scheme: "none"}}, "admin")
	require.ErrorIs(t, err, ErrSourceDeclaredInConfig)
	require.ErrorIs(t, s.Delete(t.Context(), "shop"), ErrSourceDeclaredInConfig)
	_, err = s.Replace(t.Context(), "shop", SourceSpec{Type: "a.b", Verify: VerifySpec{Scheme: "none"}}, "admin")
	require.ErrorIs(t, err, ErrSourceDeclaredInConfig)
	require.ErrorIs(t, s.Delete(t.Context(), "nope"), ErrSourceNotFound)

	for spec, path := range map[string]string{
		`{"name":"x y","type":"a.b","verify":{"scheme":"none"}}`:                                                          "name",
		`{"name":"x","type":"a.b","verify":{}}`:                                                                           "verify.scheme",
		`{"name":"x","type":"a b","verify":{"scheme":"none"}}`:                                                            "type",
		`{"name":"x","verify":{"scheme":"none"}}`:                                                                         "type",
		`{"name":"x","type":"a.b","type_from":"header:X","verify":{"scheme":"none"}}`:                                     "type_from",
		`{"name":"x","type":"a.b","verify":{"scheme":"hmac"}}`:                                                            "verify.header",
		`{"name":"x","type":"a.b","verify":{"scheme":"standard-webhooks","secrets":["whsec_!!"]}}`:                        "verify.secrets[0]",
		`{"name":"x","type":"a.b","verify":{"scheme":"github","secrets":["a","b","c"]}}`:                                  "verify.secrets",
		`{"name":"x","type":"a.b","verify":{"scheme":"none"},"dedupe_window":"48h"}`:                                      "dedupe_window",
		`{"name":"x","type":"a.b","verify":{"scheme":"none"},"priority":"high"}`:                                          "priority",
		`{"name":"x","type":"a.b","verify":{"scheme":"none"},"on_invalid":"drop"}`:                                        "on_invalid",
		`{"name":"x","type_from":"header:X","type_prefix":"` + strings.Repeat("p", 300) + `","verify":{"scheme":"none"}}`: "type_prefix",
	} {
		var sp SourceSpec
		require.NoError(t, json.Unmarshal([]byte(spec), &sp))
		_, err := s.Create(t.Context(), sp, "admin")
		var fe *field.Error
		require.ErrorAs(t, err, &fe, spec)
		require.Equal(t, path, fe.Path, spec)
	}
	require.Empty(t, s.List()[1:], "nothing refused was created")
}

func TestSourcesFollowChangesMadeOnAnotherNode(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := bus.Open(t.Context(), bus.Config{
		StoreDir: t.TempDir(), Replicas: 1, MaxAge: time.Hour, DedupeWindow: time.Hour, MaxPayload: 8 << 20, Name: "sources",
	}, log)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	a, _ := sourcesOn(t, b, 0)
	other, otherSet := sourcesOn(t, b, 0)

	// Requests keep being served while sources change.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2000 {
			_, _ = otherSet.Get("x")
		}
	}()
	_, err = a.Create(t.Context(), SourceSpec{Name: "x", Type: "thing.done", Verify: VerifySpec{Scheme: "none"}}, "admin")
	require.NoError(t, err)
	<-done
	weirtest.EventuallyTrue(t, 5*time.Second, func() bool { _, ok := otherSet.Get("x"); return ok }, "the other node serves the new source")
	v, err := other.Get("x")
	require.NoError(t, err)
	require.Equal(t, OwnerAPI, v.Owner)

	_, err = other.Replace(t.Context(), "x", SourceSpec{Type: "thing.redone", Verify: VerifySpec{Scheme: "none"}}, "admin")
	require.NoError(t, err)
	weirtest.EventuallyTrue(t, 5*time.Second, func() bool { v, _ := a.Get("x"); return v.Type == "thing.redone" }, "and the first sees the replacement")
	require.NoError(t, a.Delete(t.Context(), "x"))
	weirtest.EventuallyTrue(t, 5*time.Second, func() bool { _, ok := otherSet.Get("x"); return !ok }, "and the deletion")
}

// FuzzSourceSpec feeds the checks of a source created through the API with
// any JSON: they refuse with a field error or compile, and never panic.
func FuzzSourceSpec(f *testing.F) {
	f.Add(`{"name":"a","type":"a.b","verify":{"scheme":"none"}}`)
	f.Add(`{"name":"a","type_from":"json:/x","type_prefix":"p.","verify":{"scheme":"hmac","header":"X-S","secrets":["k"]}}`)
	f.Add(`{"name":"a","type":"a.b","idempotency_key":"header:","verify":{"scheme":"standard-webhooks","secrets":["whsec_"]},"rate_limit":{"per_second":-1}}`)
	s := &Sources{cfg: SourcesConfig{Config: sourcesConfig(f), MaxDedupeWindow: 24 * time.Hour}}
	f.Fuzz(func(t *testing.T, raw string) {
		var spec SourceSpec
		if json.Unmarshal([]byte(raw), &spec) != nil {
			return
		}
		src, err := s.compile(spec.Name, spec)
		if err != nil {
			var fe *field.Error
			require.ErrorAs(t, err, &fe, "every refusal names a field")
			return
		}
		require.Equal(t, spec.Name, src.Name())
	})
}

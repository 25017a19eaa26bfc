package config

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/field"
)

// TestShapeErrorsNameTheFieldAndTheFilesLine: a misspelt field or a bad
// duration is a *field.Error with the path, and the line is the file's own
// (the decoder saw a re-encoded copy whose lines differ).
func TestShapeErrorsNameTheFieldAndTheFilesLine(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]struct{ path, reason string }{
		"# weir\n\nserver:\n  addr: ':8080'\n  adr: x\n":                                               {"server.adr", `line 5: unknown field "adr" (in Server settings)`},
		"sources:\n  shop:\n    verify: {scheme: none}\n    typo: a\n":                                 {"sources.shop.typo", `line 4: unknown field "typo" (in Source settings)`},
		"subscriptions:\n  a:\n    types: [x]\n    push: {url: 'http://h/', retrys: 3}\n":              {"subscriptions.a.push.retrys", `unknown field "retrys"`},
		"ingress:\n\n  dedupe_window: forever\n":                                                       {"ingress.dedupe_window", `line 3: "forever" is not a duration (e.g. 30s, 5m, 24h)`},
		"tokens:\n  - {name: a, secret: 0123456789abcdefg, rolez: [admin]}\n":                          {"tokens[0].rolez", `unknown field "rolez"`},
		"subscriptions:\n  f:\n    types: [x]\n    push:\n      url: 'http://h/'\n      timeout: 30\n": {"subscriptions.f.push.timeout", `line 6: "30" is not a duration (e.g. 30s, 5m, 6h)`},
		"subscriptions:\n  f:\n    types: [x]\n    push: {url: 'http://h/', timeout: soon}\n":          {"subscriptions.f.push.timeout", `"soon" is not a duration`},
	} {
		_, err := Parse([]byte(in), env(nil))
		var fe *field.Error
		require.True(t, errors.As(err, &fe), "%q: %v", in, err)
		require.Equal(t, want.path, fe.Path, in)
		require.Contains(t, fe.Reason, want.reason, in)
	}
	_, err := Parse([]byte("server: {shutdown_timeout: 30s}\nbus: {max_age: 24h}\nsubscriptions:\n  f:\n    types: [x]\n    push: {url: 'http://h/', secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, timeout: 30s}\n"), env(nil))
	require.NoError(t, err, "good durations pass")
}

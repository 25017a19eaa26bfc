package verify

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The example from GitHub's "Validating webhook deliveries" documentation.
const (
	ghSecret    = "It's a Secret to Everybody"
	ghPayload   = "Hello, World!"
	ghSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func ghSetup(t *testing.T) (Verifier, http.Header) {
	t.Helper()
	v, err := New(Config{Scheme: SchemeGitHub, Secrets: []string{ghSecret}})
	require.NoError(t, err)
	h := http.Header{}
	h.Set("X-Hub-Signature-256", ghSignature)
	return v, h
}

func TestGitHubDocumentationVector(t *testing.T) {
	t.Parallel()
	v, h := ghSetup(t)
	require.NoError(t, v.Verify(h, []byte(ghPayload), time.Time{}), "GitHub signs no timestamp")

	signed, err := Sign(Config{Scheme: SchemeGitHub, Secrets: []string{ghSecret}}, []byte(ghPayload), testNow, "")
	require.NoError(t, err)
	require.Equal(t, ghSignature, signed.Get("X-Hub-Signature-256"))
	require.Empty(t, signed.Get("X-GitHub-Delivery"), "no id given, none invented")
}

func TestGitHubUppercaseHex(t *testing.T) {
	t.Parallel()
	v, h := ghSetup(t)
	h.Set("X-Hub-Signature-256", "sha256="+strings.ToUpper(strings.TrimPrefix(ghSignature, "sha256=")))
	require.NoError(t, v.Verify(h, []byte(ghPayload), testNow))
}

func TestGitHubFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, header, body, secret string
		want                       error
		text                       string
	}{
		{"wrong secret", ghSignature, ghPayload, "It's a secret to everybody", ErrSignatureMismatch,
			"signature mismatch: the signature in header X-Hub-Signature-256 was not made from this body with any configured secret"},
		{"tampered body", ghSignature, "Hello, World?", ghSecret, ErrSignatureMismatch, "X-Hub-Signature-256"},
		{"missing", "", ghPayload, ghSecret, ErrMissingSignature, "missing signature header X-Hub-Signature-256"},
		{"sha1 form", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59", ghPayload, ghSecret, ErrMalformedSignature, "want sha256=<hex digest>"},
		{"no prefix", strings.TrimPrefix(ghSignature, "sha256="), ghPayload, ghSecret, ErrMalformedSignature, "X-Hub-Signature-256"},
		{"not hex", "sha256=" + strings.Repeat("zz", 32), ghPayload, ghSecret, ErrMalformedSignature, "64 hex digits"},
		{"short", ghSignature[:len(ghSignature)-2], ghPayload, ghSecret, ErrMalformedSignature, "64 hex digits"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v, err := New(Config{Scheme: SchemeGitHub, Secrets: []string{c.secret}})
			require.NoError(t, err)
			h := http.Header{}
			if c.header != "" {
				h.Set("X-Hub-Signature-256", c.header)
			}
			err = v.Verify(h, []byte(c.body), testNow)
			require.ErrorIs(t, err, c.want)
			require.Contains(t, err.Error(), c.text)
		})
	}
}

func FuzzParseGitHubSignature(f *testing.F) {
	for _, seed := range []string{ghSignature, "sha256=", "sha256=zz", "sha1=abc", "", "sha256=" + strings.Repeat("0", 65)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		sig, err := parseGitHubSignature(v)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformedSignature)
			require.Nil(t, sig)
			return
		}
		require.Len(t, sig, 32)
		require.True(t, strings.HasPrefix(v, "sha256="))
	})
}

func FuzzVerifyGitHub(f *testing.F) {
	f.Add(ghSignature, []byte(ghPayload))
	f.Add("", []byte{})
	f.Add("sha256=", []byte("x"))
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		v, _ := ghSetup(t)
		h := http.Header{"X-Hub-Signature-256": {sig}}
		err := v.Verify(h, body, testNow)
		requireVerifyError(t, err)
		if err == nil {
			require.ErrorIs(t, v.Verify(h, append(body, 'x'), testNow), ErrSignatureMismatch)
		}
	})
}

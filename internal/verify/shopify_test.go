package verify

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A fixed vector from Shopify's PHP library: Shopify/shopify-api-php,
// tests/Webhooks/RegistryTest.php ($processHeaders and $processBody, the body
// being json_encode(['foo' => 'bar'])), signed with the test API secret key
// "steffi" set in tests/BaseTestCase.php.
const (
	shopifySecret    = "steffi"
	shopifyPayload   = `{"foo":"bar"}`
	shopifySignature = "/Redz4YXHLnSmmSN8grr5/Jl/Ua3d7yX3iWbjb8R8wo="
)

func shopifySetup(t *testing.T) (Verifier, http.Header) {
	t.Helper()
	v, err := New(Config{Scheme: SchemeShopify, Secrets: []string{shopifySecret}})
	require.NoError(t, err)
	h := http.Header{}
	h.Set("X-Shopify-Hmac-Sha256", shopifySignature)
	return v, h
}

func TestShopifyLibraryVector(t *testing.T) {
	t.Parallel()
	v, h := shopifySetup(t)
	require.NoError(t, v.Verify(h, []byte(shopifyPayload), time.Time{}))

	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	signed, err := Sign(Config{Scheme: SchemeShopify, Secrets: []string{shopifySecret}}, []byte(shopifyPayload), now, "b54557e4")
	require.NoError(t, err)
	require.Equal(t, shopifySignature, signed.Get("X-Shopify-Hmac-SHA256"))
	require.Equal(t, "b54557e4", signed.Get("X-Shopify-Webhook-Id"))
	require.Equal(t, "2026-01-02T03:04:05.000000006Z", signed.Get("X-Shopify-Triggered-At"))
}

func TestShopifyIgnoresTriggeredAt(t *testing.T) {
	t.Parallel()
	v, h := shopifySetup(t)
	h.Set("X-Shopify-Triggered-At", "2001-01-01T00:00:00Z")
	require.NoError(t, v.Verify(h, []byte(shopifyPayload), testNow), "retries keep the old time")
}

func TestShopifyFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, header, body, secret string
		want                       error
		text                       string
	}{
		{"wrong secret", shopifySignature, shopifyPayload, "Steffi", ErrSignatureMismatch, "X-Shopify-Hmac-Sha256"},
		{"tampered body", shopifySignature, `{"foo":"baz"}`, shopifySecret, ErrSignatureMismatch, "X-Shopify-Hmac-Sha256"},
		{"missing", "", shopifyPayload, shopifySecret, ErrMissingSignature, "missing signature header X-Shopify-Hmac-Sha256"},
		{"not base64", "whoops_this_is_wrong", shopifyPayload, shopifySecret, ErrMalformedSignature, "base64"},
		{"hex instead of base64", strings.Repeat("ab", 32), shopifyPayload, shopifySecret, ErrMalformedSignature, "32-byte"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v, err := New(Config{Scheme: SchemeShopify, Secrets: []string{c.secret}})
			require.NoError(t, err)
			h := http.Header{}
			if c.header != "" {
				h.Set("X-Shopify-Hmac-Sha256", c.header)
			}
			err = v.Verify(h, []byte(c.body), testNow)
			require.ErrorIs(t, err, c.want)
			require.Contains(t, err.Error(), c.text)
		})
	}
}

func FuzzParseShopifySignature(f *testing.F) {
	for _, seed := range []string{shopifySignature, "", "=", "====", "whoops_this_is_wrong", "\n\r", strings.TrimSuffix(shopifySignature, "=")} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		sig, err := parseShopifySignature(v)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformedSignature)
			return
		}
		require.Len(t, sig, 32)
	})
}

func FuzzVerifyShopify(f *testing.F) {
	f.Add(shopifySignature, []byte(shopifyPayload))
	f.Add("", []byte{})
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		v, _ := shopifySetup(t)
		h := http.Header{"X-Shopify-Hmac-Sha256": {sig}}
		err := v.Verify(h, body, testNow)
		requireVerifyError(t, err)
		if err == nil {
			require.ErrorIs(t, v.Verify(h, append(body, 'x'), testNow), ErrSignatureMismatch)
		}
	})
}

package verify

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sentinels are the errors every verification failure must wrap.
var sentinels = []error{
	ErrMissingSignature, ErrMalformedSignature, ErrSignatureMismatch,
	ErrTimestampExpired, ErrTimestampInFuture,
}

// requireVerifyError fails unless err is nil or wraps one of the sentinels, so
// that callers can always classify a failure.
func requireVerifyError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %q wraps no sentinel", err)
}

// testNow is a fixed clock for tests that do not care about the exact time.
var testNow = time.Unix(1_750_000_000, 0)

// schemeCase is one configuration exercised by the cross-scheme tests.
type schemeCase struct {
	name string
	cfg  Config
	// header is where the signature travels, named in mismatch errors.
	header string
}

// withSecrets returns c.cfg with the given secrets.
func (c schemeCase) withSecrets(secrets ...string) Config {
	cfg := c.cfg
	cfg.Secrets = secrets
	return cfg
}

// signedSchemes lists a configuration for every scheme that signs, without
// secrets; withSecrets adds them.
func signedSchemes() []schemeCase {
	return []schemeCase{
		{"standard-webhooks", Config{Scheme: SchemeStandardWebhooks}, "webhook-signature"},
		{"github", Config{Scheme: SchemeGitHub}, "X-Hub-Signature-256"},
		{"stripe", Config{Scheme: SchemeStripe}, "Stripe-Signature"},
		{"shopify", Config{Scheme: SchemeShopify}, "X-Shopify-Hmac-Sha256"},
		{"hmac hex sha256", Config{Scheme: SchemeHMAC, Header: "X-Signature", Prefix: "sha256="}, "X-Signature"},
		{"hmac base64 sha512", Config{Scheme: SchemeHMAC, Header: "X-Sig", Algorithm: "sha512", Encoding: "base64"}, "X-Sig"},
		{"hmac timestamped", Config{Scheme: SchemeHMAC, Header: "X-Signature", TimestampHeader: "X-Timestamp"}, "X-Signature"},
	}
}

// secretPair returns an old and a new secret valid for every scheme; base64
// text is also a fine raw secret.
func secretPair() (oldSecret, newSecret string) {
	return "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZA==", "whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldw=="
}

func TestSignThenVerifyEveryScheme(t *testing.T) {
	t.Parallel()
	oldSecret, _ := secretPair()
	body := []byte(`{"id":"evt_1","type":"order.created"}`)
	for _, c := range signedSchemes() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := c.withSecrets(oldSecret)
			h, err := Sign(cfg, body, testNow, "dlv_1")
			require.NoError(t, err)
			v, err := New(cfg)
			require.NoError(t, err)
			require.NoError(t, v.Verify(h, body, testNow))
			require.NoError(t, v.Verify(h, body, testNow.Add(DefaultTolerance)), "still inside the tolerance")

			err = v.Verify(h, append([]byte(`{"x":1,`), body[1:]...), testNow)
			require.ErrorIs(t, err, ErrSignatureMismatch, "tampered body")
			require.Contains(t, err.Error(), c.header)

			require.ErrorIs(t, v.Verify(h, nil, testNow), ErrSignatureMismatch, "body dropped")
		})
	}
}

func TestRotatedSecretVerifies(t *testing.T) {
	t.Parallel()
	oldSecret, newSecret := secretPair()
	body := []byte(`{"id":"evt_2"}`)
	for _, c := range signedSchemes() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h, err := Sign(c.withSecrets(newSecret), body, testNow, "dlv_2")
			require.NoError(t, err)

			both, err := New(c.withSecrets(oldSecret, newSecret))
			require.NoError(t, err)
			require.NoError(t, both.Verify(h, body, testNow), "the second secret must be tried")

			oldOnly, err := New(c.withSecrets(oldSecret))
			require.NoError(t, err)
			require.ErrorIs(t, oldOnly.Verify(h, body, testNow), ErrSignatureMismatch)
		})
	}
}

func TestSignUsesFirstSecret(t *testing.T) {
	t.Parallel()
	oldSecret, newSecret := secretPair()
	for _, c := range signedSchemes() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h, err := Sign(c.withSecrets(newSecret, oldSecret), []byte("x"), testNow, "dlv")
			require.NoError(t, err)
			v, err := New(c.withSecrets(newSecret))
			require.NoError(t, err)
			require.NoError(t, v.Verify(h, []byte("x"), testNow))
		})
	}
}

func TestMismatchErrorHidesExpectedSignature(t *testing.T) {
	t.Parallel()
	oldSecret, newSecret := secretPair()
	body := []byte(`{"id":"evt_3"}`)
	for _, c := range signedSchemes() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sent, err := Sign(c.withSecrets(oldSecret), body, testNow, "dlv_3")
			require.NoError(t, err)
			// What the receiver would have expected, with its own secret.
			expected, err := Sign(c.withSecrets(newSecret), body, testNow, "dlv_3")
			require.NoError(t, err)

			v, err := New(c.withSecrets(newSecret))
			require.NoError(t, err)
			err = v.Verify(sent, body, testNow)
			require.ErrorIs(t, err, ErrSignatureMismatch)
			require.Contains(t, err.Error(), c.header)
			for _, values := range expected {
				for _, value := range values {
					if len(value) < 16 {
						continue // ids and timestamps, not signatures
					}
					require.NotContains(t, err.Error(), value)
				}
			}
		})
	}
}

func TestVerifyWithoutHeaders(t *testing.T) {
	t.Parallel()
	oldSecret, _ := secretPair()
	for _, c := range signedSchemes() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v, err := New(c.withSecrets(oldSecret))
			require.NoError(t, err)
			for _, h := range []http.Header{nil, {}} {
				err := v.Verify(h, nil, time.Time{})
				require.ErrorIs(t, err, ErrMissingSignature)
				require.Contains(t, err.Error(), c.header)
			}
		})
	}
}

func TestDeliveryIDFrom(t *testing.T) {
	t.Parallel()
	oldSecret, _ := secretPair()
	want := map[string]string{
		SchemeStandardWebhooks: "header:webhook-id",
		SchemeGitHub:           "header:X-GitHub-Delivery",
		SchemeStripe:           "json:/id",
		SchemeShopify:          "header:X-Shopify-Webhook-Id",
		SchemeHMAC:             "",
	}
	for _, c := range signedSchemes() {
		v, err := New(c.withSecrets(oldSecret))
		require.NoError(t, err)
		require.Equal(t, want[c.cfg.Scheme], v.DeliveryIDFrom(), c.name)
	}
	v, err := New(Config{Scheme: SchemeNone})
	require.NoError(t, err)
	require.Empty(t, v.DeliveryIDFrom())
}

func TestSignCarriesDeliveryID(t *testing.T) {
	t.Parallel()
	oldSecret, _ := secretPair()
	for scheme, header := range map[string]string{
		SchemeStandardWebhooks: "webhook-id",
		SchemeGitHub:           "X-GitHub-Delivery",
		SchemeShopify:          "X-Shopify-Webhook-Id",
	} {
		h, err := Sign(Config{Scheme: scheme, Secrets: []string{oldSecret}}, []byte("{}"), testNow, "dlv_42")
		require.NoError(t, err)
		require.Equal(t, "dlv_42", h.Get(header), scheme)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	ok := []string{"s3cret"}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no scheme", Config{Secrets: ok}, "verify.scheme: required"},
		{"unknown scheme", Config{Scheme: "foo", Secrets: ok},
			`verify.scheme: unknown scheme "foo" (want one of standard-webhooks, github, stripe, shopify, hmac, none)`},
		{"scheme in capitals", Config{Scheme: "GitHub", Secrets: ok}, "verify.scheme: unknown scheme"},
		{"negative tolerance", Config{Scheme: SchemeStripe, Secrets: ok, Tolerance: -time.Second}, "verify.tolerance:"},
		{"no secrets", Config{Scheme: SchemeGitHub}, "verify.secrets: at least one secret"},
		{"empty second secret", Config{Scheme: SchemeGitHub, Secrets: []string{"a", ""}}, "verify.secrets[1]: empty"},
		{"trailing newline", Config{Scheme: SchemeShopify, Secrets: []string{"abc\n"}}, "verify.secrets[0]: has leading or trailing whitespace"},
		{"none with secrets", Config{Scheme: SchemeNone, Secrets: ok}, "verify.secrets: scheme none"},
		{"header on github", Config{Scheme: SchemeGitHub, Secrets: ok, Header: "X-Sig"}, "verify.header: only used by scheme hmac"},
		{"prefix on stripe", Config{Scheme: SchemeStripe, Secrets: ok, Prefix: "v1="}, "verify.prefix: only used by scheme hmac"},
		{"timestamp header on none", Config{Scheme: SchemeNone, TimestampHeader: "X-T"}, "verify.timestamp_header: only used by scheme hmac"},
		{"hmac without header", Config{Scheme: SchemeHMAC, Secrets: ok}, "verify.header: required for scheme hmac"},
		{"hmac header with space", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X Sig"}, "verify.header:"},
		{"hmac bad algorithm", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", Algorithm: "md5"}, `verify.algorithm: unknown algorithm "md5"`},
		{"hmac bad encoding", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", Encoding: "base32"}, `verify.encoding: unknown encoding "base32"`},
		{"hmac bad timestamp header", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", TimestampHeader: "X:T"}, "verify.timestamp_header:"},
		{"hmac same headers", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", TimestampHeader: "x-sig"}, "verify.timestamp_header: must differ"},
		{"standard-webhooks secret not base64", Config{Scheme: SchemeStandardWebhooks, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!"}}, "verify.secrets[1]: not a Standard Webhooks secret"},
		{"standard-webhooks secret empty key", Config{Scheme: SchemeStandardWebhooks, Secrets: []string{"whsec_"}}, "verify.secrets[0]: the key after whsec_ is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(c.cfg)
			require.ErrorContains(t, err, c.want)
			_, err = Sign(c.cfg, []byte("{}"), testNow, "dlv")
			require.ErrorContains(t, err, c.want, "Sign validates like New")
		})
	}
}

func TestConfigErrorsDoNotQuoteSecrets(t *testing.T) {
	t.Parallel()
	secret := "whsec_this is not base64 but is secret"
	_, err := New(Config{Scheme: SchemeStandardWebhooks, Secrets: []string{secret}})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret but")
}

func TestParseUnix(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"0": 0, "1614265330": 1614265330, "9223372036854775807": math.MaxInt64} {
		got, ok := parseUnix(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1", "+1", " 1", "1 ", "01", "1.5", "1e9", "9223372036854775808", "12345678901234567890", "١٢"} {
		_, ok := parseUnix(in)
		require.False(t, ok, in)
	}
}

func TestCheckFreshness(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	tol := 5 * time.Minute
	require.NoError(t, checkFreshness("h", 1_000_000, now, tol))
	require.NoError(t, checkFreshness("h", 1_000_000-300, now, tol), "exactly at the edge")
	require.NoError(t, checkFreshness("h", 1_000_000+300, now, tol), "exactly at the edge")

	err := checkFreshness("header webhook-timestamp", 1_000_000-301, now, tol)
	require.ErrorIs(t, err, ErrTimestampExpired)
	require.EqualError(t, err, "signature timestamp too old: header webhook-timestamp is 301 seconds old, more than the 5m0s tolerance")

	err = checkFreshness("header webhook-timestamp", 1_000_000+301, now, tol)
	require.ErrorIs(t, err, ErrTimestampInFuture)
	require.Contains(t, err.Error(), "301 seconds ahead")

	// Extreme values must neither overflow into acceptance nor panic.
	require.ErrorIs(t, checkFreshness("h", math.MaxInt64, time.Unix(math.MinInt64/2, 0), tol), ErrTimestampInFuture)
	require.ErrorIs(t, checkFreshness("h", 0, time.Unix(math.MaxInt64/2, 0), tol), ErrTimestampExpired)
	require.ErrorIs(t, checkFreshness("h", math.MaxInt64, time.Time{}, time.Duration(math.MaxInt64)), ErrTimestampInFuture)
}

func TestDecodeBase64AcceptsMissingPadding(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"aGk=", "aGk"} {
		b, ok := decodeBase64(in)
		require.True(t, ok, in)
		require.Equal(t, []byte("hi"), b)
	}
	_, ok := decodeBase64("a*b")
	require.False(t, ok)
}

func TestErrorTextIsASentence(t *testing.T) {
	t.Parallel()
	v, err := New(Config{Scheme: SchemeGitHub, Secrets: []string{"x"}})
	require.NoError(t, err)
	err = v.Verify(http.Header{}, nil, testNow)
	require.EqualError(t, err, "missing signature header X-Hub-Signature-256")
	require.False(t, strings.Contains(err.Error(), "%!"), "no formatting mistakes")
}

func FuzzParseUnix(f *testing.F) {
	for _, seed := range []string{"0", "1614265330", "01", "-1", "9223372036854775807", "9223372036854775808", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ts, ok := parseUnix(v)
		if !ok {
			return
		}
		require.GreaterOrEqual(t, ts, int64(0))
		require.Equal(t, v, strconv.FormatInt(ts, 10), "only the canonical spelling is accepted")
	})
}

func TestHugeAndOddHeaders(t *testing.T) {
	t.Parallel()
	oldSecret, _ := secretPair()
	odd := []string{
		strings.Repeat("v1,"+strings.Repeat("A", 43)+"= ", 20_000),
		strings.Repeat("t=1,v1=", 100_000),
		strings.Repeat("=", 1<<20),
		"\x00\xff\xfe" + strings.Repeat("é", 1000),
	}
	for _, c := range signedSchemes() {
		v, err := New(c.withSecrets(oldSecret))
		require.NoError(t, err)
		for _, value := range odd {
			h := http.Header{}
			for _, name := range []string{c.header, "webhook-id", "webhook-timestamp", "X-Timestamp"} {
				h.Set(name, value)
			}
			err := v.Verify(h, []byte(value), testNow)
			require.Error(t, err, c.name)
			requireVerifyError(t, err)
			require.Less(t, len(err.Error()), 300, "the header value is never echoed")
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	oldSecret, newSecret := secretPair()
	body := []byte(strings.Repeat(`{"k":"v"},`, 400)) // about 4 KiB
	for _, c := range signedSchemes() {
		b.Run(c.name, func(b *testing.B) {
			h, err := Sign(c.withSecrets(newSecret), body, testNow, "dlv")
			require.NoError(b, err)
			// The matching secret second: the cost during a rotation.
			v, err := New(c.withSecrets(oldSecret, newSecret))
			require.NoError(b, err)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Verify(h, body, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

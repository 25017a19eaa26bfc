package verify

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A fixed vector from Stripe's .NET library: stripe/stripe-dotnet,
// src/StripeTests/Services/Events/EventUtilityTest.cs (the secret, timestamp
// and header) over src/StripeTests/Resources/event_test_signature.json (the
// body, including its final newline). The v0 entry is Stripe's test-mode
// signature and must be ignored.
const (
	stripeSecret    = "webhook_secret"
	stripeTimestamp = 1533204620
	stripeV1        = "2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7"
	stripeHeader    = "t=1533204620,v1=" + stripeV1 + ",v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef"
	stripePayload   = `{
  "id": "evt_123",
  "object": "event",
  "account": "acct_123",
  "api_version": "2017-05-25",
  "created": 1533204620,
  "data": {
    "object": {
      "id": "cus_123",
      "object": "customer",
      "created": 123456789,
      "email": "test@stripe.com",
      "livemode": false,
      "metadata": {}
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {
    "id": "req_123",
    "idempotency_key": "idempotency-key-123"
  },
  "type": "customer.created"
}
`
)

var stripeNow = time.Unix(stripeTimestamp+100, 0)

func stripeSetup(t *testing.T) (Verifier, http.Header) {
	t.Helper()
	v, err := New(Config{Scheme: SchemeStripe, Secrets: []string{stripeSecret}})
	require.NoError(t, err)
	h := http.Header{}
	h.Set("Stripe-Signature", stripeHeader)
	return v, h
}

func TestStripeLibraryVector(t *testing.T) {
	t.Parallel()
	v, h := stripeSetup(t)
	require.NoError(t, v.Verify(h, []byte(stripePayload), stripeNow))

	signed, err := Sign(Config{Scheme: SchemeStripe, Secrets: []string{stripeSecret}}, []byte(stripePayload), time.Unix(stripeTimestamp, 0), "evt_123")
	require.NoError(t, err)
	require.Equal(t, "t=1533204620,v1="+stripeV1, signed.Get("Stripe-Signature"))
}

func TestStripeSecretIsNotDecoded(t *testing.T) {
	t.Parallel()
	// A whsec_ secret that is also valid base64: Stripe keys the HMAC with the
	// text, so Sign and Verify must agree on that and not decode it.
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"id":"evt_1"}`)
	h, err := Sign(Config{Scheme: SchemeStripe, Secrets: []string{secret}}, body, testNow, "")
	require.NoError(t, err)
	ts := strconv.FormatInt(testNow.Unix(), 10)
	require.Equal(t, "t="+ts+",v1="+hmacHex(t, []byte(secret), ts+"."+string(body)), h.Get("Stripe-Signature"))
}

func TestStripeHeaderVariants(t *testing.T) {
	t.Parallel()
	v, h := stripeSetup(t)
	other := strings.Repeat("ab", 32)
	for _, header := range []string{
		"v0=00,v1=" + stripeV1 + ",t=1533204620",
		"t=1533204620,v1=" + other + ",v1=" + stripeV1,
		"t=1533204620,v1=bad_signature,v1=" + stripeV1,
		"t=1533204620, v1=" + stripeV1 + ", scheme=x, novalue",
		"t=1533204620,v1=" + strings.ToUpper(stripeV1),
	} {
		h.Set("Stripe-Signature", header)
		require.NoError(t, v.Verify(h, []byte(stripePayload), stripeNow), header)
	}
}

func TestStripeFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, header, body string
		now                time.Time
		want               error
		text               string
	}{
		{"tampered body", stripeHeader, stripePayload + "this_changes_the_json", stripeNow, ErrSignatureMismatch, "Stripe-Signature"},
		{"body without final newline", stripeHeader, strings.TrimSuffix(stripePayload, "\n"), stripeNow, ErrSignatureMismatch, ""},
		{"other timestamp", strings.Replace(stripeHeader, "t=1533204620", "t=1533204621", 1), stripePayload, stripeNow, ErrSignatureMismatch, ""},
		{"only v0", "t=1533204620,v0=" + stripeV1, stripePayload, stripeNow, ErrMalformedSignature, "no v1= signature"},
		{"missing", "", stripePayload, stripeNow, ErrMissingSignature, "missing signature header Stripe-Signature"},
		{"empty t", "t=,v1=" + stripeV1, stripePayload, stripeNow, ErrMalformedSignature, "t= is not a unix time"},
		{"no t", "v1=" + stripeV1, stripePayload, stripeNow, ErrMalformedSignature, "no t= timestamp"},
		{"two t", "t=1533204620,t=1,v1=" + stripeV1, stripePayload, stripeNow, ErrMalformedSignature, "more than one t="},
		{"bare keys", "t,v1=,v0=", stripePayload, stripeNow, ErrMalformedSignature, ""},
		{"commas only", ",,", stripePayload, stripeNow, ErrMalformedSignature, ""},
		{"expired", stripeHeader, stripePayload, time.Unix(stripeTimestamp+300+100, 0), ErrTimestampExpired,
			"signature timestamp too old: t= in header Stripe-Signature is 400 seconds old, more than the 5m0s tolerance"},
		{"in the future", stripeHeader, stripePayload, time.Unix(stripeTimestamp-301, 0), ErrTimestampInFuture, "t= in header Stripe-Signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v, h := stripeSetup(t)
			h.Set("Stripe-Signature", c.header)
			err := v.Verify(h, []byte(c.body), c.now)
			require.ErrorIs(t, err, c.want)
			require.Contains(t, err.Error(), c.text)
			require.NotContains(t, err.Error(), stripeV1)
		})
	}
}

func TestStripeWrongSecretIsMismatchEvenWhenExpired(t *testing.T) {
	t.Parallel()
	v, err := New(Config{Scheme: SchemeStripe, Secrets: []string{"whsec_other"}})
	require.NoError(t, err)
	h := http.Header{"Stripe-Signature": {stripeHeader}}
	require.ErrorIs(t, v.Verify(h, []byte(stripePayload), testNow), ErrSignatureMismatch,
		"an expired error would suggest the request was genuine")
}

func FuzzParseStripeHeader(f *testing.F) {
	for _, seed := range []string{
		stripeHeader, "t=1,v1=" + stripeV1, "t=,v1=", "t,v1=,v0", ",,", "t", "=,=,=", "t=99999999999999999999",
		"t=1,t=1", "v1=" + stripeV1 + ",t=0", " t = 1 , v1 = x ",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ts, sigs, err := parseStripeHeader(v)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformedSignature)
			require.Nil(t, sigs)
			return
		}
		require.GreaterOrEqual(t, ts, int64(0))
		require.NotEmpty(t, sigs)
		require.Contains(t, v, "t="+strconv.FormatInt(ts, 10), "the timestamp is spelled as it was sent")
		for _, s := range sigs {
			require.Len(t, s, 32)
		}
	})
}

func FuzzVerifyStripe(f *testing.F) {
	f.Add(stripeHeader, []byte(stripePayload), int64(stripeTimestamp))
	f.Add("", []byte{}, int64(0))
	f.Add("t=9223372036854775807,v1="+stripeV1, []byte("{}"), int64(-9223372036854775808))
	f.Fuzz(func(t *testing.T, sig string, body []byte, now int64) {
		v, _ := stripeSetup(t)
		h := http.Header{"Stripe-Signature": {sig}}
		err := v.Verify(h, body, time.Unix(now, 0))
		requireVerifyError(t, err)
		if err == nil {
			require.ErrorIs(t, v.Verify(h, append(body, 'x'), time.Unix(now, 0)), ErrSignatureMismatch)
		}
	})
}

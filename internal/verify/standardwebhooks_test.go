package verify

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The reference test vector of the Standard Webhooks libraries
// (standard-webhooks/standard-webhooks, libraries/go/webhook_test.go,
// TestWebhookSign).
const (
	swSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	swID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	swTimestamp = 1614265330
	swPayload   = `{"test": 2432232314}`
	swSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// swSetup returns the verifier for the reference secret and the reference
// request's headers; tests change the headers to taste.
func swSetup(t *testing.T) (Verifier, http.Header) {
	t.Helper()
	v, err := New(Config{Scheme: SchemeStandardWebhooks, Secrets: []string{swSecret}})
	require.NoError(t, err)
	h := http.Header{}
	h.Set("webhook-id", swID)
	h.Set("webhook-timestamp", strconv.Itoa(swTimestamp))
	h.Set("webhook-signature", swSignature)
	return v, h
}

var swNow = time.Unix(swTimestamp, 0)

func TestStandardWebhooksReferenceVector(t *testing.T) {
	t.Parallel()
	v, h := swSetup(t)
	require.NoError(t, v.Verify(h, []byte(swPayload), swNow))

	signed, err := Sign(Config{Scheme: SchemeStandardWebhooks, Secrets: []string{swSecret}}, []byte(swPayload), swNow, swID)
	require.NoError(t, err)
	require.Equal(t, h, signed)
}

func TestStandardWebhooksSecretWithoutPrefix(t *testing.T) {
	t.Parallel()
	_, h := swSetup(t)
	v, err := New(Config{Scheme: SchemeStandardWebhooks, Secrets: []string{strings.TrimPrefix(swSecret, "whsec_")}})
	require.NoError(t, err)
	require.NoError(t, v.Verify(h, []byte(swPayload), swNow))
}

func TestStandardWebhooksSvixHeaders(t *testing.T) {
	t.Parallel()
	v, _ := swSetup(t)
	h := http.Header{}
	h.Set("svix-id", swID)
	h.Set("svix-timestamp", strconv.Itoa(swTimestamp))
	h.Set("svix-signature", swSignature)
	require.NoError(t, v.Verify(h, []byte(swPayload), swNow))

	h.Del("svix-timestamp")
	require.EqualError(t, v.Verify(h, []byte(swPayload), swNow), "missing signature header svix-timestamp")
}

func TestStandardWebhooksSignatureList(t *testing.T) {
	t.Parallel()
	v, h := swSetup(t)
	other := "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	for _, list := range []string{
		other + " " + swSignature,
		"v1a,c29tZS1lZDI1NTE5LXNpZw== " + swSignature,
		"v2," + strings.TrimPrefix(swSignature, "v1,") + " " + swSignature + " junk",
		"v1,!!! " + swSignature,
		"  " + swSignature + "  ",
		strings.TrimSuffix(swSignature, "="), // unpadded base64
	} {
		h.Set("webhook-signature", list)
		require.NoError(t, v.Verify(h, []byte(swPayload), swNow), list)
	}
	h.Set("webhook-signature", other)
	require.ErrorIs(t, v.Verify(h, []byte(swPayload), swNow), ErrSignatureMismatch)
}

func TestStandardWebhooksFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(h http.Header)
		body   string
		now    time.Time
		want   error
		text   string
	}{
		{"tampered body", nil, `{"test": 2432232315}`, swNow, ErrSignatureMismatch, "webhook-signature"},
		{"other id", func(h http.Header) { h.Set("webhook-id", "msg_other") }, swPayload, swNow, ErrSignatureMismatch, ""},
		{"other timestamp", func(h http.Header) { h.Set("webhook-timestamp", "1614265331") }, swPayload, swNow, ErrSignatureMismatch, ""},
		{"missing signature", func(h http.Header) { h.Del("webhook-signature") }, swPayload, swNow, ErrMissingSignature, "missing signature header webhook-signature"},
		{"missing id", func(h http.Header) { h.Del("webhook-id") }, swPayload, swNow, ErrMissingSignature, "webhook-id"},
		{"missing timestamp", func(h http.Header) { h.Del("webhook-timestamp") }, swPayload, swNow, ErrMissingSignature, "webhook-timestamp"},
		{"timestamp not a number", func(h http.Header) { h.Set("webhook-timestamp", "yesterday") }, swPayload, swNow, ErrMalformedSignature, "webhook-timestamp"},
		{"timestamp with leading zero", func(h http.Header) { h.Set("webhook-timestamp", "01614265330") }, swPayload, swNow, ErrMalformedSignature, ""},
		{"only asymmetric signatures", func(h http.Header) { h.Set("webhook-signature", "v1a,c2ln") }, swPayload, swNow, ErrMalformedSignature, "no v1,<base64> signature"},
		{"signature without version", func(h http.Header) { h.Set("webhook-signature", strings.TrimPrefix(swSignature, "v1,")) }, swPayload, swNow, ErrMalformedSignature, ""},
		{"expired", nil, swPayload, swNow.Add(5*time.Minute + time.Second), ErrTimestampExpired, "webhook-timestamp is 301 seconds old"},
		{"in the future", nil, swPayload, swNow.Add(-10 * time.Minute), ErrTimestampInFuture, "600 seconds ahead"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v, h := swSetup(t)
			if c.change != nil {
				c.change(h)
			}
			err := v.Verify(h, []byte(c.body), c.now)
			require.ErrorIs(t, err, c.want)
			require.Contains(t, err.Error(), c.text)
		})
	}
}

func TestStandardWebhooksWrongSecret(t *testing.T) {
	t.Parallel()
	_, h := swSetup(t)
	v, err := New(Config{Scheme: SchemeStandardWebhooks, Secrets: []string{"whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA=="}})
	require.NoError(t, err)
	err = v.Verify(h, []byte(swPayload), swNow)
	require.ErrorIs(t, err, ErrSignatureMismatch)
	require.NotContains(t, err.Error(), "g0hM9SsE")
}

func TestStandardWebhooksTolerance(t *testing.T) {
	t.Parallel()
	_, h := swSetup(t)
	v, err := New(Config{Scheme: SchemeStandardWebhooks, Secrets: []string{swSecret}, Tolerance: time.Hour})
	require.NoError(t, err)
	require.NoError(t, v.Verify(h, []byte(swPayload), swNow.Add(59*time.Minute)))
	require.ErrorIs(t, v.Verify(h, []byte(swPayload), swNow.Add(61*time.Minute)), ErrTimestampExpired)
}

func TestStandardWebhooksSignNeedsDeliveryID(t *testing.T) {
	t.Parallel()
	_, err := Sign(Config{Scheme: SchemeStandardWebhooks, Secrets: []string{swSecret}}, []byte("{}"), swNow, "")
	require.ErrorContains(t, err, "delivery id")
}

func FuzzParseStandardSignatures(f *testing.F) {
	for _, seed := range []string{
		swSignature,
		swSignature + " v1a,abc v2,xyz",
		"v1,", ",", "v1,,", "v1,====", " \t\n", "v1,\xff\xfe", strings.Repeat("v1,AAAA ", 64),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		sigs := parseStandardSignatures(v)
		require.LessOrEqual(t, len(sigs), strings.Count(v, "v1,"))
		for _, s := range sigs {
			require.Len(t, s, 32)
		}
	})
}

func FuzzVerifyStandardWebhooks(f *testing.F) {
	f.Add(swID, strconv.Itoa(swTimestamp), swSignature, []byte(swPayload), int64(swTimestamp), false)
	f.Add(swID, strconv.Itoa(swTimestamp), swSignature, []byte(swPayload), int64(swTimestamp), true)
	f.Add("", "", "", []byte{}, int64(0), false)
	f.Add("id", "-1", "v1,@@", []byte("\x00"), int64(-1), true)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte, now int64, svix bool) {
		v, _ := swSetup(t)
		prefix := "webhook-"
		if svix {
			prefix = "svix-"
		}
		h := http.Header{}
		h.Set(prefix+"id", id)
		h.Set(prefix+"timestamp", ts)
		h.Set(prefix+"signature", sig)
		err := v.Verify(h, body, time.Unix(now, 0))
		requireVerifyError(t, err)
		if err != nil {
			require.NotContains(t, err.Error(), "g0hM9SsE")
			return
		}
		// Whatever got through must stop getting through once the body changes.
		require.ErrorIs(t, v.Verify(h, append(body, 'x'), time.Unix(now, 0)), ErrSignatureMismatch)
	})
}

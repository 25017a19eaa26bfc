package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// RFC 4231, test case 2: the published HMAC-SHA-256 and HMAC-SHA-512 of
// "what do ya want for nothing?" under the key "Jefe".
const (
	rfcKey    = "Jefe"
	rfcData   = "what do ya want for nothing?"
	rfcSHA256 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	// base64 of the SHA-512 digest 164b7a7b...38bce737 given in the RFC.
	rfcSHA512Base64 = "Fkt6e/z4GeLjlfvnO1bgo4e9ZCIugx/WECcM1+olBVSXWL91wFqZSm0DT2X48Ob9yuqxo01Ka0tjbgcKOLznNw=="
)

// hmacHex computes an HMAC-SHA256 in hex straight from crypto/hmac, apart
// from the package's own helpers, to check them against.
func hmacHex(t *testing.T, key []byte, content string) string {
	t.Helper()
	m := hmac.New(sha256.New, key)
	_, err := m.Write([]byte(content))
	require.NoError(t, err)
	return hex.EncodeToString(m.Sum(nil))
}

func TestHMACRFC4231Vectors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cfg    Config
		header string
	}{
		{"sha256 hex with prefix", Config{Header: "X-Signature", Prefix: "sha256="}, "sha256=" + rfcSHA256},
		{"sha256 hex explicit", Config{Header: "X-Signature", Algorithm: "sha256", Encoding: "hex"}, rfcSHA256},
		{"sha512 base64", Config{Header: "X-Signature", Algorithm: "sha512", Encoding: "base64"}, rfcSHA512Base64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := c.cfg
			cfg.Scheme, cfg.Secrets = SchemeHMAC, []string{rfcKey}
			v, err := New(cfg)
			require.NoError(t, err)
			h := http.Header{"X-Signature": {c.header}}
			require.NoError(t, v.Verify(h, []byte(rfcData), testNow))

			signed, err := Sign(cfg, []byte(rfcData), testNow, "")
			require.NoError(t, err)
			require.Equal(t, h, signed)
		})
	}
}

func TestHMACPrefixIgnoresCase(t *testing.T) {
	t.Parallel()
	v, err := New(Config{Scheme: SchemeHMAC, Secrets: []string{rfcKey}, Header: "X-Signature", Prefix: "sha256="})
	require.NoError(t, err)
	h := http.Header{"X-Signature": {"SHA256=" + rfcSHA256}}
	require.NoError(t, v.Verify(h, []byte(rfcData), testNow))
}

func TestHMACTimestamped(t *testing.T) {
	t.Parallel()
	cfg := Config{Scheme: SchemeHMAC, Secrets: []string{rfcKey}, Header: "X-Signature", TimestampHeader: "X-Timestamp"}
	v, err := New(cfg)
	require.NoError(t, err)
	ts := strconv.FormatInt(testNow.Unix(), 10)
	h := http.Header{}
	h.Set("X-Timestamp", ts)
	h.Set("X-Signature", hmacHex(t, []byte(rfcKey), ts+"."+rfcData))
	require.NoError(t, v.Verify(h, []byte(rfcData), testNow))

	signed, err := Sign(cfg, []byte(rfcData), testNow, "")
	require.NoError(t, err)
	require.Equal(t, h, signed)

	cases := []struct {
		name   string
		change func(h http.Header)
		now    time.Time
		want   error
		text   string
	}{
		{"expired", nil, testNow.Add(6 * time.Minute), ErrTimestampExpired, "header X-Timestamp is 360 seconds old"},
		{"in the future", nil, testNow.Add(-6 * time.Minute), ErrTimestampInFuture, "header X-Timestamp is 360 seconds ahead"},
		{"other timestamp", func(h http.Header) { h.Set("X-Timestamp", strconv.FormatInt(testNow.Unix()+1, 10)) }, testNow, ErrSignatureMismatch, "X-Signature"},
		{"missing timestamp", func(h http.Header) { h.Del("X-Timestamp") }, testNow, ErrMissingSignature, "missing signature header X-Timestamp"},
		{"timestamp in milliseconds", func(h http.Header) { h.Set("X-Timestamp", ts+"000") }, testNow, ErrSignatureMismatch, ""},
		{"timestamp not a number", func(h http.Header) { h.Set("X-Timestamp", "now") }, testNow, ErrMalformedSignature, "X-Timestamp"},
		{"body signed without timestamp", func(h http.Header) { h.Set("X-Signature", rfcSHA256) }, testNow, ErrSignatureMismatch, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := h.Clone()
			if c.change != nil {
				c.change(h)
			}
			err := v.Verify(h, []byte(rfcData), c.now)
			require.ErrorIs(t, err, c.want)
			require.Contains(t, err.Error(), c.text)
		})
	}
}

func TestHMACFailures(t *testing.T) {
	t.Parallel()
	base := Config{Scheme: SchemeHMAC, Secrets: []string{rfcKey}, Header: "X-Signature", Prefix: "sha256="}
	sha512 := base
	sha512.Algorithm, sha512.Prefix = "sha512", ""
	cases := []struct {
		name   string
		cfg    Config
		header string
		body   string
		want   error
		text   string
	}{
		{"wrong secret", Config{Scheme: SchemeHMAC, Secrets: []string{"jefe"}, Header: "X-Signature", Prefix: "sha256="},
			"sha256=" + rfcSHA256, rfcData, ErrSignatureMismatch, "header X-Signature"},
		{"tampered body", base, "sha256=" + rfcSHA256, rfcData + " ", ErrSignatureMismatch, "X-Signature"},
		{"missing", base, "", rfcData, ErrMissingSignature, "missing signature header X-Signature"},
		{"missing prefix", base, rfcSHA256, rfcData, ErrMalformedSignature, `does not start with the prefix "sha256="`},
		{"bad hex", base, "sha256=" + strings.Repeat("g", 64), rfcData, ErrMalformedSignature, "want the hex of a 32-byte digest"},
		{"sha256 digest for sha512", sha512, rfcSHA256, rfcData, ErrMalformedSignature, "64-byte digest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v, err := New(c.cfg)
			require.NoError(t, err)
			h := http.Header{}
			if c.header != "" {
				h.Set("X-Signature", c.header)
			}
			err = v.Verify(h, []byte(c.body), testNow)
			require.ErrorIs(t, err, c.want)
			require.Contains(t, err.Error(), c.text)
		})
	}
}

// hmacFuzzConfigs are the shapes of generic scheme the fuzz targets pick from.
var hmacFuzzConfigs = []Config{
	{Scheme: SchemeHMAC, Secrets: []string{rfcKey}, Header: "X-Signature", Prefix: "sha256="},
	{Scheme: SchemeHMAC, Secrets: []string{rfcKey}, Header: "X-Signature", Algorithm: "sha512", Encoding: "base64"},
	{Scheme: SchemeHMAC, Secrets: []string{rfcKey}, Header: "X-Signature", Encoding: "base64", Prefix: "é", TimestampHeader: "X-Timestamp"},
}

func FuzzParseHMACSignature(f *testing.F) {
	f.Add(uint8(0), "sha256="+rfcSHA256)
	f.Add(uint8(1), rfcSHA512Base64)
	f.Add(uint8(2), "\xc3")
	f.Add(uint8(2), "É"+strings.Repeat("A", 44))
	f.Fuzz(func(t *testing.T, which uint8, v string) {
		s, err := build(hmacFuzzConfigs[int(which)%len(hmacFuzzConfigs)])
		require.NoError(t, err)
		g := s.(*genericHMAC)
		sig, err := g.parseSignature(v)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformedSignature)
			return
		}
		require.Len(t, sig, g.size)
		require.True(t, strings.EqualFold(v[:len(g.prefix)], g.prefix))
	})
}

func FuzzVerifyHMAC(f *testing.F) {
	f.Add(uint8(0), "sha256="+rfcSHA256, "", []byte(rfcData), testNow.Unix())
	f.Add(uint8(1), rfcSHA512Base64, "", []byte(rfcData), testNow.Unix())
	f.Add(uint8(2), "", "1", []byte{}, int64(0))
	f.Fuzz(func(t *testing.T, which uint8, sig, ts string, body []byte, now int64) {
		v, err := New(hmacFuzzConfigs[int(which)%len(hmacFuzzConfigs)])
		require.NoError(t, err)
		h := http.Header{"X-Signature": {sig}, "X-Timestamp": {ts}}
		err = v.Verify(h, body, time.Unix(now, 0))
		requireVerifyError(t, err)
		if err == nil {
			require.ErrorIs(t, v.Verify(h, append(body, 'x'), time.Unix(now, 0)), ErrSignatureMismatch)
		}
	})
}

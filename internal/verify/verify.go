package verify

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/field"
)

// Scheme names accepted in Config.Scheme.
const (
	// SchemeStandardWebhooks is the Standard Webhooks 1.0 scheme, also used by Svix.
	SchemeStandardWebhooks = "standard-webhooks"
	// SchemeGitHub is GitHub's X-Hub-Signature-256 scheme.
	SchemeGitHub = "github"
	// SchemeStripe is Stripe's Stripe-Signature scheme.
	SchemeStripe = "stripe"
	// SchemeShopify is Shopify's X-Shopify-Hmac-Sha256 scheme.
	SchemeShopify = "shopify"
	// SchemeHMAC is a generic HMAC scheme described by the Config's hmac fields.
	SchemeHMAC = "hmac"
	// SchemeNone accepts every request. It is never a default: a source that
	// cannot sign has to say so.
	SchemeNone = "none"
)

// schemeNames lists the schemes in the order used by error messages.
var schemeNames = []string{
	SchemeStandardWebhooks, SchemeGitHub, SchemeStripe, SchemeShopify, SchemeHMAC, SchemeNone,
}

// DefaultTolerance is the largest accepted distance between a signed timestamp
// and the receiver's clock when Config.Tolerance is zero. Five minutes is what
// both the Standard Webhooks and the Stripe reference libraries use.
const DefaultTolerance = 5 * time.Minute

// ErrMissingSignature means a header the scheme needs in order to check the
// signature is absent: the signature itself, or the timestamp or message id it
// covers. The request was probably not sent by the configured sender, or went
// through a proxy that dropped the header.
var ErrMissingSignature = errors.New("missing signature header")

// ErrMalformedSignature means a signature header is present but cannot be
// read, for example bad hex or base64, a missing t= in Stripe-Signature, or a
// timestamp that is not a number. It usually points at a scheme configured for
// the wrong sender.
var ErrMalformedSignature = errors.New("malformed signature header")

// ErrSignatureMismatch means the signature was well formed but was not made
// over this body with any of the configured secrets: the secret is wrong, or
// the body was changed on the way.
var ErrSignatureMismatch = errors.New("signature mismatch")

// ErrTimestampExpired means the signature is genuine but its timestamp is
// older than the tolerance, so the request may be a replay. A sender whose
// clock is far behind also causes it.
var ErrTimestampExpired = errors.New("signature timestamp too old")

// ErrTimestampInFuture means the signed timestamp is ahead of the receiver's
// clock by more than the tolerance; one of the two clocks is wrong.
var ErrTimestampInFuture = errors.New("signature timestamp in the future")

// Config describes how one source's requests are signed.
type Config struct {
	// Scheme is one of the Scheme* constants. It is required.
	Scheme string

	// Secrets are the shared secrets. Several may be listed at once during a
	// rotation; every one is tried and Sign uses the first. Scheme none takes
	// no secrets; every other scheme needs at least one.
	Secrets []string

	// Tolerance is the largest accepted distance between a signed timestamp
	// and the receiver's clock, in either direction; 0 means DefaultTolerance.
	// Schemes without a timestamp ignore it.
	Tolerance time.Duration

	// Header names the header that carries the signature, e.g. "X-Signature".
	// Required for scheme hmac and used by it only.
	Header string

	// Algorithm is the hash of the HMAC: "sha256" (default) or "sha512".
	// Scheme hmac only.
	Algorithm string

	// Encoding of the digest in the header: "hex" (default) or "base64".
	// Scheme hmac only.
	Encoding string

	// Prefix is text that comes before the digest in the header, such as
	// "sha256="; it is matched without regard to case. Scheme hmac only.
	Prefix string

	// TimestampHeader, when set, names a header carrying the signing time in
	// unix seconds. The signed content is then "<timestamp>.<body>" and the
	// timestamp is checked against Tolerance. Scheme hmac only.
	TimestampHeader string
}

// Verifier checks the signature of one request. Implementations are immutable
// after New and safe for concurrent use.
type Verifier interface {
	// Verify checks the signature carried by h over the raw body bytes, at time now.
	Verify(h http.Header, body []byte, now time.Time) error

	// DeliveryIDFrom says where the sender's own delivery id lives, used for
	// de-duplication: "header:<Name>" or "json:<RFC 6901 pointer>", or "" if the
	// scheme has none.
	DeliveryIDFrom() string
}

// signer is what every scheme implements: New hands out the Verifier half and
// Sign uses the other, so the two can never disagree about a scheme.
type signer interface {
	Verifier
	// sign returns the headers a sender would attach to body at time now,
	// using the first secret.
	sign(body []byte, now time.Time, deliveryID string) (http.Header, error)
}

// New builds the Verifier for cfg. A bad config gives a *field.Error naming
// the field at fault, such as "verify.header: required for scheme hmac".
func New(cfg Config) (Verifier, error) {
	return build(cfg)
}

// Sign produces the headers a sender of cfg's scheme would attach to body,
// using the first secret, at time now. deliveryID becomes the sender's
// delivery id where the scheme carries one in a header (webhook-id,
// X-GitHub-Delivery, X-Shopify-Webhook-Id); standard-webhooks requires it
// because the id is part of the signed content. Scheme none returns an empty
// header.
func Sign(cfg Config, body []byte, now time.Time, deliveryID string) (http.Header, error) {
	s, err := NewSigner(cfg)
	if err != nil {
		return nil, err
	}
	return s.Sign(body, now, deliveryID)
}

// Signer is Sign with cfg validated and its secrets decoded once, for a
// sender that signs many messages (a push subscription signs every delivery).
// It is safe for concurrent use.
type Signer struct{ s signer }

// NewSigner validates cfg and builds its signer.
func NewSigner(cfg Config) (*Signer, error) {
	s, err := build(cfg)
	if err != nil {
		return nil, err
	}
	return &Signer{s: s}, nil
}

// Sign is Sign with the Signer's configuration.
func (s *Signer) Sign(body []byte, now time.Time, deliveryID string) (http.Header, error) {
	return s.s.sign(body, now, deliveryID)
}

// build validates cfg and constructs its scheme.
func build(cfg Config) (signer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	switch cfg.Scheme {
	case SchemeStandardWebhooks:
		return newStandardWebhooks(cfg)
	case SchemeGitHub:
		return newGitHub(cfg), nil
	case SchemeStripe:
		return newStripe(cfg), nil
	case SchemeShopify:
		return newShopify(cfg), nil
	case SchemeHMAC:
		return newGenericHMAC(cfg)
	default:
		return none{}, nil
	}
}

// validate checks what is common to all schemes; scheme constructors check
// their own fields.
func (c Config) validate() error {
	want := strings.Join(schemeNames, ", ")
	switch {
	case c.Scheme == "":
		return field.Errorf("verify.scheme", "required (want one of %s)", want)
	case !slices.Contains(schemeNames, c.Scheme):
		return field.Errorf("verify.scheme", "unknown scheme %q (want one of %s)", c.Scheme, want)
	case c.Tolerance < 0:
		return field.Errorf("verify.tolerance", "must not be negative, got %s", c.Tolerance)
	}
	if c.Scheme != SchemeHMAC {
		// These fields do nothing for other schemes; setting them is a sign
		// that the scheme itself is wrong, so say so rather than ignore them.
		for _, f := range []struct{ name, value string }{
			{"header", c.Header}, {"algorithm", c.Algorithm}, {"encoding", c.Encoding},
			{"prefix", c.Prefix}, {"timestamp_header", c.TimestampHeader},
		} {
			if f.value != "" {
				return field.Errorf("verify."+f.name, "only used by scheme hmac, not %s", c.Scheme)
			}
		}
	}
	if c.Scheme == SchemeNone {
		if len(c.Secrets) > 0 {
			return field.Errorf("verify.secrets", "scheme none checks nothing, so it takes no secrets")
		}
		return nil
	}
	if len(c.Secrets) == 0 {
		return field.Errorf("verify.secrets", "at least one secret is required for scheme %s", c.Scheme)
	}
	for i, s := range c.Secrets {
		switch {
		case s == "":
			return field.Errorf(fmt.Sprintf("verify.secrets[%d]", i), "empty")
		case strings.TrimSpace(s) != s:
			// Almost always a newline left over from a file or an environment
			// variable, which would make every signature mismatch.
			return field.Errorf(fmt.Sprintf("verify.secrets[%d]", i), "has leading or trailing whitespace")
		}
	}
	return nil
}

// tolerance returns the configured tolerance or the default.
func (c Config) tolerance() time.Duration {
	if c.Tolerance == 0 {
		return DefaultTolerance
	}
	return c.Tolerance
}

// rawKeys returns the secrets as HMAC keys, used as-is by the schemes whose
// secret is the key itself.
func (c Config) rawKeys() [][]byte {
	keys := make([][]byte, len(c.Secrets))
	for i, s := range c.Secrets {
		keys[i] = []byte(s)
	}
	return keys
}

// mac computes the HMAC of the concatenated parts, which avoids copying the
// body just to put a timestamp in front of it.
func mac(newHash func() hash.Hash, key []byte, parts ...[]byte) []byte {
	m := hmac.New(newHash, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// matchAny reports whether any key's HMAC over parts equals any of sigs. Each
// comparison is constant-time; returning at the first match only tells an
// observer that some secret matched, which the response says anyway.
func matchAny(newHash func() hash.Hash, keys, sigs [][]byte, parts ...[]byte) bool {
	if len(sigs) == 0 {
		return false
	}
	for _, k := range keys {
		sum := mac(newHash, k, parts...)
		for _, s := range sigs {
			if hmac.Equal(sum, s) {
				return true
			}
		}
	}
	return false
}

// parseUnix reads a unix timestamp in seconds. Only the canonical decimal
// spelling is accepted (ASCII digits, no sign, no leading zero), so that
// formatting the result gives back the exact text the sender signed.
func parseUnix(v string) (int64, bool) {
	if v == "" || len(v) > 19 || (len(v) > 1 && v[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	ts, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false
	}
	return ts, true
}

// checkFreshness compares a signed timestamp (unix seconds, from the named
// header) with now. The differences are taken in uint64, which is exact
// whatever the two values are, so no timestamp can overflow the check.
func checkFreshness(header string, ts int64, now time.Time, tolerance time.Duration) error {
	nowSec := now.Unix()
	tolSec := uint64(tolerance / time.Second)
	switch {
	case ts < nowSec:
		if age := uint64(nowSec) - uint64(ts); age > tolSec {
			return headerErr(header, "%w: %s is %d seconds old, more than the %s tolerance",
				ErrTimestampExpired, header, age, tolerance)
		}
	case ts > nowSec:
		if ahead := uint64(ts) - uint64(nowSec); ahead > tolSec {
			return headerErr(header, "%w: %s is %d seconds ahead of this server's clock, more than the %s tolerance",
				ErrTimestampInFuture, header, ahead, tolerance)
		}
	}
	return nil
}

// decodeBase64 reads standard base64, with or without padding: senders
// differ on padding and dropping it changes nothing about the bytes.
func decodeBase64(s string) ([]byte, bool) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	return b, err == nil
}

// errMissing reports an absent header.
func errMissing(header string) error {
	return headerErr(header, "%w %s", ErrMissingSignature, header)
}

// errMalformed reports an unreadable header; why must not quote the value.
func errMalformed(header, why string) error {
	return headerErr(header, "%w %s: %s", ErrMalformedSignature, header, why)
}

// errMismatch reports a signature that no secret produced.
func errMismatch(header string) error {
	return headerErr(header, "%w: the signature in header %s was not made from this body with any configured secret",
		ErrSignatureMismatch, header)
}

// HeaderError is a verification failure about one request header; callers name
// that header in their answer (the problem's field).
type HeaderError struct {
	// Header is the request header at fault.
	Header string
	err    error
}

// Error is the full sentence.
func (e *HeaderError) Error() string { return e.err.Error() }

// Unwrap gives the sentinel, for errors.Is.
func (e *HeaderError) Unwrap() error { return e.err }

// HeaderName names the header at fault.
func (e *HeaderError) HeaderName() string { return e.Header }

func headerErr(header, format string, args ...any) error {
	return &HeaderError{Header: header, err: fmt.Errorf(format, args...)}
}

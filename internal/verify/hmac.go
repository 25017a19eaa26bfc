package verify

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/field"
)

// genericHMAC verifies the many home-grown schemes that boil down to "an HMAC
// of the body in some header": the header, hash, digest encoding, a prefix and
// an optional signed timestamp are all configured.
type genericHMAC struct {
	keys            [][]byte
	newHash         func() hash.Hash
	size            int
	base64          bool
	header          string
	prefix          string
	timestampHeader string
	tolerance       time.Duration
}

var _ signer = (*genericHMAC)(nil)

func newGenericHMAC(cfg Config) (*genericHMAC, error) {
	g := &genericHMAC{
		keys:            cfg.rawKeys(),
		header:          cfg.Header,
		prefix:          cfg.Prefix,
		timestampHeader: cfg.TimestampHeader,
		tolerance:       cfg.tolerance(),
	}
	switch {
	case cfg.Header == "":
		return nil, field.Errorf("verify.header", "required for scheme %s", SchemeHMAC)
	case !validHeaderName(cfg.Header):
		return nil, field.Errorf("verify.header", "%q is not a valid HTTP header name", cfg.Header)
	case cfg.TimestampHeader != "" && !validHeaderName(cfg.TimestampHeader):
		return nil, field.Errorf("verify.timestamp_header", "%q is not a valid HTTP header name", cfg.TimestampHeader)
	case cfg.TimestampHeader != "" &&
		http.CanonicalHeaderKey(cfg.TimestampHeader) == http.CanonicalHeaderKey(cfg.Header):
		return nil, field.Errorf("verify.timestamp_header", "must differ from verify.header (%s)", cfg.Header)
	}
	switch cfg.Algorithm {
	case "", "sha256":
		g.newHash, g.size = sha256.New, sha256.Size
	case "sha512":
		g.newHash, g.size = sha512.New, sha512.Size
	default:
		return nil, field.Errorf("verify.algorithm", "unknown algorithm %q (want sha256 or sha512)", cfg.Algorithm)
	}
	switch cfg.Encoding {
	case "", "hex":
	case "base64":
		g.base64 = true
	default:
		return nil, field.Errorf("verify.encoding", "unknown encoding %q (want hex or base64)", cfg.Encoding)
	}
	return g, nil
}

// Verify implements Verifier.
func (g *genericHMAC) Verify(h http.Header, body []byte, now time.Time) error {
	v := h.Get(g.header)
	if v == "" {
		return errMissing(g.header)
	}
	sig, err := g.parseSignature(v)
	if err != nil {
		return err
	}
	if g.timestampHeader == "" {
		if !matchAny(g.newHash, g.keys, [][]byte{sig}, body) {
			return errMismatch(g.header)
		}
		return nil
	}
	tsText := h.Get(g.timestampHeader)
	if tsText == "" {
		return errMissing(g.timestampHeader)
	}
	ts, ok := parseUnix(tsText)
	if !ok {
		return errMalformed(g.timestampHeader, "want a unix time in seconds")
	}
	if !matchAny(g.newHash, g.keys, [][]byte{sig}, []byte(tsText), dot, body) {
		return errMismatch(g.header)
	}
	return checkFreshness("header "+g.timestampHeader, ts, now, g.tolerance)
}

// DeliveryIDFrom implements Verifier. A generic sender has no id we know of;
// the source's own idempotency_key setting can name one.
func (g *genericHMAC) DeliveryIDFrom() string { return "" }

func (g *genericHMAC) sign(body []byte, now time.Time, _ string) (http.Header, error) {
	h := http.Header{}
	var sum []byte
	if g.timestampHeader != "" {
		ts := strconv.FormatInt(now.Unix(), 10)
		h.Set(g.timestampHeader, ts)
		sum = mac(g.newHash, g.keys[0], []byte(ts), dot, body)
	} else {
		sum = mac(g.newHash, g.keys[0], body)
	}
	if g.base64 {
		h.Set(g.header, g.prefix+base64.StdEncoding.EncodeToString(sum))
	} else {
		h.Set(g.header, g.prefix+hex.EncodeToString(sum))
	}
	return h, nil
}

// parseSignature strips the configured prefix (in any case, since senders
// disagree on "SHA256=" versus "sha256=") and decodes the digest.
func (g *genericHMAC) parseSignature(v string) ([]byte, error) {
	if len(v) < len(g.prefix) || !strings.EqualFold(v[:len(g.prefix)], g.prefix) {
		return nil, errMalformed(g.header, fmt.Sprintf("does not start with the prefix %q", g.prefix))
	}
	digest := v[len(g.prefix):]
	var (
		sig []byte
		ok  bool
	)
	if g.base64 {
		sig, ok = decodeBase64(digest)
	} else {
		var err error
		sig, err = hex.DecodeString(digest)
		ok = err == nil
	}
	if !ok || len(sig) != g.size {
		enc := "hex"
		if g.base64 {
			enc = "base64"
		}
		return nil, errMalformed(g.header, fmt.Sprintf("want the %s of a %d-byte digest", enc, g.size))
	}
	return sig, nil
}

// validHeaderName reports whether s is an RFC 9110 token, the syntax of a
// header name; anything else could never match an incoming header.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

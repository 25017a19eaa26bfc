package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// headerStripeSignature carries "t=<unix>,v1=<hex>[,v1=<hex>...][,v0=<hex>]".
const headerStripeSignature = "Stripe-Signature"

// stripe verifies Stripe webhook signatures: an HMAC-SHA256 over "<t>.<body>"
// keyed with the whole endpoint secret. Stripe secrets start with whsec_ like
// Standard Webhooks ones, but Stripe uses the text itself as the key, so it is
// not base64-decoded here.
type stripe struct {
	keys      [][]byte
	tolerance time.Duration
}

var _ signer = (*stripe)(nil)

func newStripe(cfg Config) *stripe {
	return &stripe{keys: cfg.rawKeys(), tolerance: cfg.tolerance()}
}

// Verify implements Verifier.
func (s *stripe) Verify(h http.Header, body []byte, now time.Time) error {
	v := h.Get(headerStripeSignature)
	if v == "" {
		return errMissing(headerStripeSignature)
	}
	ts, sigs, err := parseStripeHeader(v)
	if err != nil {
		return err
	}
	// parseUnix accepts only the canonical spelling, so formatting ts gives
	// back exactly the text Stripe signed.
	if !matchAny(sha256.New, s.keys, sigs, []byte(strconv.FormatInt(ts, 10)), dot, body) {
		return errMismatch(headerStripeSignature)
	}
	return checkFreshness("t= in header "+headerStripeSignature, ts, now, s.tolerance)
}

// DeliveryIDFrom implements Verifier. Stripe sends no delivery id header; the
// event id in the body is stable across retries.
func (s *stripe) DeliveryIDFrom() string { return "json:/id" }

func (s *stripe) sign(body []byte, now time.Time, _ string) (http.Header, error) {
	ts := strconv.FormatInt(now.Unix(), 10)
	sum := mac(sha256.New, s.keys[0], []byte(ts), dot, body)
	h := http.Header{}
	h.Set(headerStripeSignature, "t="+ts+",v1="+hex.EncodeToString(sum))
	return h, nil
}

// parseStripeHeader reads a Stripe-Signature value. Keys may come in any
// order and unknown ones (v0, the test-mode signature) are ignored. A v1 that
// is not a 32-byte hex digest is skipped rather than fatal, as in Stripe's own
// libraries, so one bad entry cannot hide a good one. A second t= is refused:
// it would be ambiguous which one was signed.
func parseStripeHeader(v string) (ts int64, sigs [][]byte, err error) {
	haveT := false
	for item := range strings.SplitSeq(v, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		switch key {
		case "t":
			if haveT {
				return 0, nil, errMalformed(headerStripeSignature, "more than one t= timestamp")
			}
			if ts, ok = parseUnix(value); !ok {
				return 0, nil, errMalformed(headerStripeSignature, "t= is not a unix time in seconds")
			}
			haveT = true
		case "v1":
			if b, err := hex.DecodeString(value); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	if !haveT {
		return 0, nil, errMalformed(headerStripeSignature, "no t= timestamp")
	}
	if len(sigs) == 0 {
		return 0, nil, errMalformed(headerStripeSignature, "no v1= signature of 64 hex digits")
	}
	return ts, sigs, nil
}

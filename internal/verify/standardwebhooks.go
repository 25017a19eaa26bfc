package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/field"
)

// standardHeaders names the three headers of one Standard Webhooks message.
type standardHeaders struct {
	id, timestamp, signature string
}

var (
	// webhookHeaders are the names in the Standard Webhooks 1.0 spec.
	webhookHeaders = standardHeaders{"webhook-id", "webhook-timestamp", "webhook-signature"}
	// svixHeaders are the same scheme under the name of the company that wrote
	// it; Svix and the senders built on it still use them.
	svixHeaders = standardHeaders{"svix-id", "svix-timestamp", "svix-signature"}
)

// standardSecretPrefix marks a Standard Webhooks secret; the key is the base64
// text after it.
const standardSecretPrefix = "whsec_"

// dot separates the parts of the signed content in the timestamped schemes.
var dot = []byte(".")

// standardWebhooks verifies Standard Webhooks 1.0 signatures: an HMAC-SHA256
// over "<webhook-id>.<webhook-timestamp>.<body>", sent base64-encoded as
// "v1,<sig>" in a space-separated list so that a sender can sign with an old
// and a new key at once.
type standardWebhooks struct {
	keys      [][]byte
	tolerance time.Duration
}

var _ signer = (*standardWebhooks)(nil)

func newStandardWebhooks(cfg Config) (*standardWebhooks, error) {
	keys := make([][]byte, len(cfg.Secrets))
	for i, s := range cfg.Secrets {
		k, err := standardKey(s)
		if err != nil {
			return nil, field.Wrap(fmt.Sprintf("verify.secrets[%d]", i), err)
		}
		keys[i] = k
	}
	return &standardWebhooks{keys: keys, tolerance: cfg.tolerance()}, nil
}

// standardKey decodes a "whsec_<base64>" secret. The prefix is optional, as in
// the reference libraries, but the rest must be base64: a secret pasted from
// another scheme would otherwise fail only later, on every request.
func standardKey(secret string) ([]byte, error) {
	key, ok := decodeBase64(strings.TrimPrefix(secret, standardSecretPrefix))
	if !ok {
		return nil, errors.New("not a Standard Webhooks secret: want whsec_ followed by base64")
	}
	if len(key) == 0 {
		return nil, errors.New("the key after whsec_ is empty")
	}
	return key, nil
}

// Verify implements Verifier.
func (v *standardWebhooks) Verify(h http.Header, body []byte, now time.Time) error {
	names := webhookHeaders
	if h.Get(names.signature) == "" && h.Get(svixHeaders.signature) != "" {
		names = svixHeaders
	}
	sigHeader := h.Get(names.signature)
	if sigHeader == "" {
		return errMissing(names.signature)
	}
	id := h.Get(names.id)
	if id == "" {
		return errMissing(names.id)
	}
	tsText := h.Get(names.timestamp)
	if tsText == "" {
		return errMissing(names.timestamp)
	}
	ts, ok := parseUnix(tsText)
	if !ok {
		return errMalformed(names.timestamp, "want a unix time in seconds")
	}
	sigs := parseStandardSignatures(sigHeader)
	if len(sigs) == 0 {
		return errMalformed(names.signature, "no v1,<base64> signature in it")
	}
	if !matchAny(sha256.New, v.keys, sigs, []byte(id), dot, []byte(tsText), dot, body) {
		return errMismatch(names.signature)
	}
	// Checked after the signature so that an expired error means a genuine
	// but late (or replayed) message, not just a bad timestamp.
	return checkFreshness("header "+names.timestamp, ts, now, v.tolerance)
}

// DeliveryIDFrom implements Verifier.
func (v *standardWebhooks) DeliveryIDFrom() string { return "header:" + webhookHeaders.id }

func (v *standardWebhooks) sign(body []byte, now time.Time, deliveryID string) (http.Header, error) {
	if deliveryID == "" {
		return nil, errors.New("verify: scheme standard-webhooks signs the delivery id, so one is required")
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	sum := mac(sha256.New, v.keys[0], []byte(deliveryID), dot, []byte(ts), dot, body)
	h := http.Header{}
	h.Set(webhookHeaders.id, deliveryID)
	h.Set(webhookHeaders.timestamp, ts)
	h.Set(webhookHeaders.signature, "v1,"+base64.StdEncoding.EncodeToString(sum))
	return h, nil
}

// parseStandardSignatures returns the decoded v1 signatures of a
// webhook-signature header. Entries of other versions (v1a is the asymmetric
// variant) and entries that are not a 32-byte base64 digest are skipped, as
// the spec asks, so one odd entry cannot hide a good one.
func parseStandardSignatures(v string) [][]byte {
	var sigs [][]byte
	for entry := range strings.FieldsSeq(v) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		if b, ok := decodeBase64(sig); ok && len(b) == sha256.Size {
			sigs = append(sigs, b)
		}
	}
	return sigs
}

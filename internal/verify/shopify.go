package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"time"
)

const (
	// headerShopifyHMAC carries the base64 HMAC-SHA256 of the body.
	headerShopifyHMAC = "X-Shopify-Hmac-Sha256"
	// headerShopifyWebhookID is Shopify's id for one delivery, kept on retries.
	headerShopifyWebhookID = "X-Shopify-Webhook-Id"
	// headerShopifyTriggeredAt is when the event happened. Shopify does not
	// sign it and retries keep it, so it is set by Sign for realism but never
	// checked: it would reject legitimate retries.
	headerShopifyTriggeredAt = "X-Shopify-Triggered-At"
)

// shopify verifies Shopify webhook signatures: an HMAC-SHA256 of the body
// keyed with the app's client secret as typed, sent in base64.
type shopify struct {
	keys [][]byte
}

var _ signer = (*shopify)(nil)

func newShopify(cfg Config) *shopify {
	return &shopify{keys: cfg.rawKeys()}
}

// Verify implements Verifier.
func (s *shopify) Verify(h http.Header, body []byte, _ time.Time) error {
	v := h.Get(headerShopifyHMAC)
	if v == "" {
		return errMissing(headerShopifyHMAC)
	}
	sig, err := parseShopifySignature(v)
	if err != nil {
		return err
	}
	if !matchAny(sha256.New, s.keys, [][]byte{sig}, body) {
		return errMismatch(headerShopifyHMAC)
	}
	return nil
}

// DeliveryIDFrom implements Verifier.
func (s *shopify) DeliveryIDFrom() string { return "header:" + headerShopifyWebhookID }

func (s *shopify) sign(body []byte, now time.Time, deliveryID string) (http.Header, error) {
	h := http.Header{}
	h.Set(headerShopifyHMAC, base64.StdEncoding.EncodeToString(mac(sha256.New, s.keys[0], body)))
	h.Set(headerShopifyTriggeredAt, now.UTC().Format(time.RFC3339Nano))
	if deliveryID != "" {
		h.Set(headerShopifyWebhookID, deliveryID)
	}
	return h, nil
}

// parseShopifySignature reads the base64 digest of X-Shopify-Hmac-Sha256.
func parseShopifySignature(v string) ([]byte, error) {
	sig, ok := decodeBase64(v)
	if !ok || len(sig) != sha256.Size {
		return nil, errMalformed(headerShopifyHMAC, "want the base64 of a 32-byte HMAC-SHA256")
	}
	return sig, nil
}

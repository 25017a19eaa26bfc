package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

const (
	// headerGitHubSignature carries "sha256=<hex>". The older X-Hub-Signature
	// (SHA-1) is ignored: GitHub sends both, and SHA-1 adds nothing.
	headerGitHubSignature = "X-Hub-Signature-256"
	// headerGitHubDelivery is GitHub's id for one delivery, kept on redelivery.
	headerGitHubDelivery = "X-GitHub-Delivery"
	// gitHubPrefix comes before the hex digest.
	gitHubPrefix = "sha256="
)

// gitHub verifies GitHub webhook signatures: an HMAC-SHA256 of the body keyed
// with the secret as typed. GitHub signs no timestamp, so replays within the
// de-duplication window are caught by the delivery id only.
type gitHub struct {
	keys [][]byte
}

var _ signer = (*gitHub)(nil)

func newGitHub(cfg Config) *gitHub {
	return &gitHub{keys: cfg.rawKeys()}
}

// Verify implements Verifier.
func (g *gitHub) Verify(h http.Header, body []byte, _ time.Time) error {
	v := h.Get(headerGitHubSignature)
	if v == "" {
		return errMissing(headerGitHubSignature)
	}
	sig, err := parseGitHubSignature(v)
	if err != nil {
		return err
	}
	if !matchAny(sha256.New, g.keys, [][]byte{sig}, body) {
		return errMismatch(headerGitHubSignature)
	}
	return nil
}

// DeliveryIDFrom implements Verifier.
func (g *gitHub) DeliveryIDFrom() string { return "header:" + headerGitHubDelivery }

func (g *gitHub) sign(body []byte, _ time.Time, deliveryID string) (http.Header, error) {
	h := http.Header{}
	h.Set(headerGitHubSignature, gitHubPrefix+hex.EncodeToString(mac(sha256.New, g.keys[0], body)))
	if deliveryID != "" {
		h.Set(headerGitHubDelivery, deliveryID)
	}
	return h, nil
}

// parseGitHubSignature reads "sha256=<64 hex digits>" into the 32-byte digest.
func parseGitHubSignature(v string) ([]byte, error) {
	digest, ok := strings.CutPrefix(v, gitHubPrefix)
	if !ok {
		return nil, errMalformed(headerGitHubSignature, "want sha256=<hex digest>")
	}
	sig, err := hex.DecodeString(digest)
	if err != nil || len(sig) != sha256.Size {
		return nil, errMalformed(headerGitHubSignature, "the digest after sha256= is not 64 hex digits")
	}
	return sig, nil
}

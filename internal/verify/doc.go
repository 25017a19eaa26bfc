// Package verify checks the signatures that webhook senders put on the requests
// they make to weir's ingress, and produces the same signatures for tools that
// pretend to be a sender (weir send, tests, benchmarks).
//
// Each supported scheme lives in its own file:
//
//	standard-webhooks  webhook-id, webhook-timestamp, webhook-signature: v1,<base64>
//	                   (Standard Webhooks 1.0; the svix-* headers are accepted too)
//	github             X-Hub-Signature-256: sha256=<hex>
//	stripe             Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]
//	shopify            X-Shopify-Hmac-Sha256: <base64>
//	hmac               a configurable HMAC over the body, optionally with a timestamp
//	none               no check at all, for sources that cannot sign
//
// A source lists several secrets during rotation and every one of them is
// tried, so the old and the new secret are both accepted until the old one is
// removed. Signatures are compared in constant time. Verification failures
// wrap one of the sentinel errors (ErrMissingSignature, ErrMalformedSignature,
// ErrSignatureMismatch, ErrTimestampExpired, ErrTimestampInFuture) so that a
// caller can count them by kind with errors.Is, and their text names the
// header at fault without ever revealing the signature weir expected: it is
// written to be shown to the sender in a 401 response.
package verify

package ingress

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/verify"
)

// Owners of a source: who may change it.
const (
	// OwnerConfig: declared in weir.yaml; read-only through the API.
	OwnerConfig = "config"
	// OwnerAPI: created through the API and kept in the sources bucket.
	OwnerAPI = "api"
)

// Bounds on what the API accepts for one source; weir.yaml is trusted and
// not bounded this way.
const (
	// maxSpecString bounds every string field of a source created through the API.
	maxSpecString = 256
	// maxSpecSecrets is enough for a rotation: the new secret next to the old.
	maxSpecSecrets = 2
	// generatedSecretBytes is the random key weir generates: 256 bits.
	generatedSecretBytes = 32
)

// SourceSpec is a source as the API and the portal describe it: the fields of
// config.Source (weir.yaml) with JSON names, and its name. Secrets are read
// from a request only; no answer carries them, except the one weir generated,
// once, in Created.
type SourceSpec struct {
	// Name is the {source} of POST /in/{source}.
	Name string `json:"name"`
	// Description says who sends to the source and why, for people reading
	// the list; sources of weir.yaml have none.
	Description string `json:"description,omitempty"`
	// Verify says how the sender signs its requests.
	Verify VerifySpec `json:"verify"`
	// Type is the fixed event type (or TypeFrom).
	Type string `json:"type,omitempty"`
	// TypeFrom takes the type from the request: header:<Name> or json:/<pointer>.
	TypeFrom string `json:"type_from,omitempty"`
	// TypePrefix is put before a type taken with TypeFrom.
	TypePrefix string `json:"type_prefix,omitempty"`
	// IdempotencyKey names the sender's delivery id: header:<Name> or json:/<pointer>.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// DedupeWindow overrides ingress.dedupe_window, up to the longest window
	// the bus keeps.
	DedupeWindow config.Duration `json:"dedupe_window,omitempty"`
	// DedupeOnBody de-duplicates on the body's SHA-256 instead of the delivery id.
	DedupeOnBody bool `json:"dedupe_on_body,omitempty"`
	// MaxBody overrides ingress.max_body, in bytes.
	MaxBody int64 `json:"max_body,omitempty"`
	// AllowRaw accepts bodies that are not JSON.
	AllowRaw bool `json:"allow_raw,omitempty"`
	// OnInvalid overrides policy.on_invalid: quarantine or reject.
	OnInvalid string `json:"on_invalid,omitempty"`
	// RateLimit bounds the requests per second on one node.
	RateLimit *RateLimitSpec `json:"rate_limit,omitempty"`
	// Priority is low, normal or essential.
	Priority string `json:"priority,omitempty"`
}

// VerifySpec is config.Verify with JSON names.
type VerifySpec struct {
	// Scheme is standard-webhooks, github, stripe, shopify, hmac or none.
	Scheme string `json:"scheme"`
	// Secrets, on a request only: the sender's own secret where the sender
	// makes it (Stripe, Shopify), or two during a rotation. Left out, weir
	// generates one. Never in an answer.
	Secrets []string `json:"secrets,omitempty"`
	// Tolerance overrides ingress.tolerance.
	Tolerance config.Duration `json:"tolerance,omitempty"`
	// Header carries the signature (hmac only).
	Header string `json:"header,omitempty"`
	// Algorithm is sha256 or sha512 (hmac only).
	Algorithm string `json:"algorithm,omitempty"`
	// Encoding is hex or base64 (hmac only).
	Encoding string `json:"encoding,omitempty"`
	// Prefix comes before the digest (hmac only).
	Prefix string `json:"prefix,omitempty"`
	// TimestampHeader carries a signed unix timestamp (hmac only).
	TimestampHeader string `json:"timestamp_header,omitempty"`
}

// RateLimitSpec is config.RateLimit with JSON names.
type RateLimitSpec struct {
	// PerSecond is the sustained rate.
	PerSecond float64 `json:"per_second"`
	// Burst is how many may come at once.
	Burst int `json:"burst,omitempty"`
}

// SourceView is a source as listed: its spec without secrets, who owns it,
// and the URL to give the sender.
type SourceView struct {
	SourceSpec
	// Owner is config (weir.yaml, read-only here) or api.
	Owner string `json:"owner"`
	// URL is where the sender posts: public_url + /in/{name}.
	URL string `json:"url"`
	// CreatedBy names the token that created an API source.
	CreatedBy string `json:"created_by,omitempty"`
	// CreatedAt and UpdatedAt are when an API source was created and last replaced.
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Created is the answer to a create or replace: the source, and the secret
// weir generated for it, which is shown this once and never again.
type Created struct {
	SourceView
	// Secret is the signing secret weir generated; empty when the request
	// gave its own secrets or the scheme is none.
	Secret string `json:"secret,omitempty"`
}

// config is the spec as weir.yaml would declare it.
func (s SourceSpec) config() config.Source {
	c := config.Source{
		Verify: config.Verify{
			Scheme: s.Verify.Scheme, Secrets: s.Verify.Secrets, Tolerance: s.Verify.Tolerance.D(),
			Header: s.Verify.Header, Algorithm: s.Verify.Algorithm, Encoding: s.Verify.Encoding,
			Prefix: s.Verify.Prefix, TimestampHeader: s.Verify.TimestampHeader,
		},
		Type: s.Type, TypeFrom: s.TypeFrom, TypePrefix: s.TypePrefix, IdempotencyKey: s.IdempotencyKey,
		DedupeWindow: s.DedupeWindow.D(), DedupeOnBody: s.DedupeOnBody, MaxBody: s.MaxBody,
		AllowRaw: s.AllowRaw, OnInvalid: s.OnInvalid, Priority: s.Priority,
	}
	if s.RateLimit != nil {
		c.RateLimit = &config.RateLimit{PerSecond: s.RateLimit.PerSecond, Burst: s.RateLimit.Burst}
	}
	return c
}

// specOf describes a weir.yaml source as the API does, without its secrets.
func specOf(name string, c config.Source) SourceSpec {
	s := SourceSpec{
		Name: name,
		Verify: VerifySpec{
			Scheme: c.Verify.Scheme, Tolerance: config.Duration(c.Verify.Tolerance),
			Header: c.Verify.Header, Algorithm: c.Verify.Algorithm, Encoding: c.Verify.Encoding,
			Prefix: c.Verify.Prefix, TimestampHeader: c.Verify.TimestampHeader,
		},
		Type: c.Type, TypeFrom: c.TypeFrom, TypePrefix: c.TypePrefix, IdempotencyKey: c.IdempotencyKey,
		DedupeWindow: config.Duration(c.DedupeWindow), DedupeOnBody: c.DedupeOnBody, MaxBody: c.MaxBody,
		AllowRaw: c.AllowRaw, OnInvalid: c.OnInvalid, Priority: c.Priority,
	}
	if c.RateLimit != nil {
		s.RateLimit = &RateLimitSpec{PerSecond: c.RateLimit.PerSecond, Burst: c.RateLimit.Burst}
	}
	return s
}

// bound refuses what weir.yaml may hold but the API does not take: long
// strings and more secrets than a rotation needs. Everything else is checked
// by config.ValidateSource and compileSource, the same rules as weir.yaml.
func (s SourceSpec) bound() error {
	for _, f := range []struct{ path, value string }{
		{"description", s.Description}, {"type", s.Type}, {"type_from", s.TypeFrom}, {"type_prefix", s.TypePrefix},
		{"idempotency_key", s.IdempotencyKey}, {"on_invalid", s.OnInvalid}, {"priority", s.Priority},
		{"verify.scheme", s.Verify.Scheme}, {"verify.header", s.Verify.Header}, {"verify.algorithm", s.Verify.Algorithm},
		{"verify.encoding", s.Verify.Encoding}, {"verify.prefix", s.Verify.Prefix}, {"verify.timestamp_header", s.Verify.TimestampHeader},
	} {
		if len(f.value) > maxSpecString {
			return field.Errorf(f.path, "is %d bytes long; at most %d", len(f.value), maxSpecString)
		}
	}
	if len(s.Verify.Secrets) > maxSpecSecrets {
		return field.Errorf("verify.secrets", "%d secrets given; at most %d (the new one next to the old during a rotation)", len(s.Verify.Secrets), maxSpecSecrets)
	}
	for i, sec := range s.Verify.Secrets {
		if len(sec) > maxSpecString {
			return field.Errorf(fmt.Sprintf("verify.secrets[%d]", i), "is %d bytes long; at most %d", len(sec), maxSpecString)
		}
	}
	return nil
}

// newSecret makes a signing secret in Standard Webhooks' form (whsec_ and
// the base64 key). Every other scheme takes its secret as an opaque string,
// so the same form serves them all and senders' libraries recognise it.
func newSecret() string {
	b := make([]byte, generatedSecretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// needsSecret tells whether scheme signs, and so needs a secret.
func needsSecret(scheme string) bool { return scheme != "" && scheme != verify.SchemeNone }

package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/delivery/target"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/token"
)

// WithDefaults fills every unset field with its documented default.
func (c *Config) WithDefaults() {
	if c.DataDir == "" {
		c.DataDir = "./weir-data"
	}
	if c.Server.Addr == "" {
		c.Server.Addr = "127.0.0.1:8080"
	}
	if c.Server.ShutdownTimeout == 0 {
		c.Server.ShutdownTimeout = 30 * time.Second
	}
	if c.Server.ReadHeaderTimeout == 0 {
		c.Server.ReadHeaderTimeout = 10 * time.Second
	}
	if c.Server.BodyTimeout == 0 {
		c.Server.BodyTimeout = 30 * time.Second
	}
	if c.Server.IdleTimeout == 0 {
		c.Server.IdleTimeout = 2 * time.Minute
	}
	if c.Server.MaxConnections == 0 {
		c.Server.MaxConnections = 10000
	}
	if c.Server.MaxClientConnections == 0 {
		c.Server.MaxClientConnections = max(1, c.Server.MaxConnections/4)
	}
	if c.Bus.Replicas == 0 {
		c.Bus.Replicas = 1
	}
	if c.Bus.PublishTimeout == 0 {
		c.Bus.PublishTimeout = 5 * time.Second
	}
	if c.Bus.MaxAge == 0 {
		c.Bus.MaxAge = 7 * 24 * time.Hour
	}
	if c.Bus.MaxPayload == 0 {
		c.Bus.MaxPayload = 8 << 20
	}
	if c.Bus.Sync == "" && c.Bus.URL == "" {
		c.Bus.Sync = "1s"
	}
	if c.Ingress.MaxBody == 0 {
		c.Ingress.MaxBody = 1 << 20
	}
	if c.Ingress.DedupeWindow == 0 {
		c.Ingress.DedupeWindow = 24 * time.Hour
	}
	if c.Ingress.Tolerance == 0 {
		c.Ingress.Tolerance = 5 * time.Minute
	}
	if c.Ingress.MaxPending == 0 {
		c.Ingress.MaxPending = 4096
	}
	if c.Ingress.SlowAck == 0 {
		c.Ingress.SlowAck = time.Second
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Delivery.AttemptsMaxAge == 0 {
		c.Delivery.AttemptsMaxAge = 7 * 24 * time.Hour
	}
	if c.Delivery.DeadLetterMaxAge == 0 {
		c.Delivery.DeadLetterMaxAge = 30 * 24 * time.Hour
	}
	c.Retention.withDefaults(c.Bus.MaxAge)
	if c.Policy.OnInvalid == "" {
		c.Policy.OnInvalid = "quarantine"
	}
	for _, s := range c.Subscriptions {
		if s != nil {
			s.WithDefaults()
		}
	}
	for name, s := range c.Sources {
		c.Sources[name] = c.SourceDefaults(s)
	}
	for _, s := range c.Sinks {
		if s != nil {
			s.WithDefaults()
		}
	}
	for _, v := range c.Views {
		if v != nil {
			v.WithDefaults()
		}
	}
	for name, s := range c.CDC {
		if s != nil {
			s.WithDefaults(name)
		}
	}
}

// Schemes are the signature schemes a source can name.
var Schemes = []string{"standard-webhooks", "github", "stripe", "shopify", "hmac", "none"}

// sourceName keeps a source usable as a URL path segment and a NATS subject token.
var sourceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidType reports why t cannot be an event type, or nil (event.ValidType).
func ValidType(t string) error { return event.ValidType(t) }

// ValidPattern reports why p cannot be a type pattern, or nil
// (event.ValidPattern).
func ValidPattern(p string) error { return event.ValidPattern(p) }

// Validate checks the whole configuration and returns the first problem, naming
// its field path.
func (c *Config) Validate() error {
	if c.Server.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Server.Addr); err != nil {
			return fmt.Errorf("server.addr: %q is not host:port", c.Server.Addr)
		}
	}
	if err := c.Bus.validate(); err != nil {
		return err
	}
	if c.Bus.Replicas < 1 || c.Bus.Replicas > 5 {
		return fmt.Errorf("bus.replicas: %d is out of range 1..5", c.Bus.Replicas)
	}
	if c.Bus.URL == "" && c.Bus.Replicas != 1 {
		return fmt.Errorf("bus.replicas: the embedded bus is a single server, replicas must be 1")
	}
	if c.Bus.PublishTimeout < 0 || c.Bus.MaxAge < 0 {
		return fmt.Errorf("bus: durations must be positive")
	}
	if c.Ingress.MaxBody < 0 {
		return fmt.Errorf("ingress.max_body: must be positive")
	}
	if c.Server.BodyTimeout < 0 || c.Server.IdleTimeout < 0 || c.Server.ReadHeaderTimeout < 0 {
		return fmt.Errorf("server: timeouts must be positive")
	}
	if c.Server.MaxConnections < 0 {
		return fmt.Errorf("server.max_connections: must be positive")
	}
	if c.Server.MaxClientConnections < 0 {
		return fmt.Errorf("server.max_client_connections: must be positive")
	}
	if c.Server.MaxClientConnections > c.Server.MaxConnections {
		return fmt.Errorf("server.max_client_connections: %d is more than server.max_connections %d", c.Server.MaxClientConnections, c.Server.MaxConnections)
	}
	if c.Ingress.MaxPending < 0 {
		return fmt.Errorf("ingress.max_pending: must be positive")
	}
	if c.Ingress.SlowAck < 0 {
		return fmt.Errorf("ingress.slow_ack: must be positive")
	}
	if int64(c.Bus.MaxPayload) < c.Ingress.MaxBody+64<<10 {
		return fmt.Errorf("bus.max_payload: %d is too small for ingress.max_body %d plus the envelope (64 KiB)", c.Bus.MaxPayload, c.Ingress.MaxBody)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		return fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level)
	}
	if !slices.Contains([]string{"text", "json"}, c.Log.Format) {
		return fmt.Errorf("log.format: %q is not text or json", c.Log.Format)
	}
	for i, o := range c.Server.CORSOrigins {
		if err := validOrigin(o); err != nil {
			return field.Wrap(fmt.Sprintf("server.cors_origins[%d]", i), err)
		}
	}
	names := map[string]bool{}
	for i, t := range c.Tokens {
		p := fmt.Sprintf("tokens[%d]", i)
		if t.Name == "" {
			return fmt.Errorf("%s.name: required", p)
		}
		if names[t.Name] {
			return fmt.Errorf("%s.name: %q is declared twice", p, t.Name)
		}
		names[t.Name] = true
		if len(t.Secret) < 16 {
			return fmt.Errorf("%s.secret: must be at least 16 characters", p)
		}
		if len(t.Roles) == 0 {
			return fmt.Errorf("%s.roles: at least one role is required", p)
		}
		for j, r := range t.Roles {
			if err := ValidRole(r); err != nil {
				return fmt.Errorf("%s.roles[%d]: %w", p, j, err)
			}
		}
		for j, src := range t.Sources {
			if err := validSourcePrefix(src); err != nil {
				return fmt.Errorf("%s.sources[%d]: %w", p, j, err)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Sources)) {
		if err := c.ValidateSource(name, c.Sources[name]); err != nil {
			return sourceError(name, err)
		}
	}
	if err := c.Retention.validate(); err != nil {
		return err
	}
	if err := c.Archive.validate(); err != nil {
		return err
	}
	if !validOnInvalid(c.Policy.OnInvalid) {
		return fmt.Errorf("policy.on_invalid: %q is not quarantine or reject", c.Policy.OnInvalid)
	}
	for typ, ct := range c.Contracts {
		if ct == nil {
			return fmt.Errorf("contracts.%s: is empty: give at least schema", typ)
		}
		if err := ct.validate(typ, c); err != nil {
			return err
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("public_url: %q is not an http(s) URL", c.PublicURL)
		}
	}
	// Checked here, not when delivery starts, so that a bad entry stops weir
	// before anything is created and names the file like every other error.
	if _, err := target.New(c.Delivery.Allow, c.Delivery.Deny); err != nil {
		return err
	}
	for name, s := range c.Subscriptions {
		p := "subscriptions." + name
		if err := ValidSubscriptionName(name); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if s == nil {
			return fmt.Errorf("%s: is empty: give types and push or pull", p)
		}
		if err := s.Validate(p); err != nil {
			return err
		}
	}
	if err := c.validateSinks(); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(c.Views)) {
		p := "views." + name
		if err := ValidSubscriptionName(name); err != nil {
			return field.Wrap(p, err)
		}
		v := c.Views[name]
		if v == nil {
			return field.Errorf(p, "is empty: give kind and types")
		}
		if err := v.Validate(p); err != nil {
			return err
		}
	}
	return c.validateCDC()
}

// ValidRole reports why r is not admin, publish:<pattern> or subscribe:<pattern>.
func ValidRole(r string) error { return token.ValidRole(r) }

// ValidSourceName reports why name cannot name a source, or nil: it must be
// usable as a URL path segment and a NATS subject token.
func ValidSourceName(name string) error {
	if !sourceName.MatchString(name) {
		return errors.New("the name must be 1-64 letters, digits, '-' or '_', starting with a letter or digit")
	}
	return nil
}

// ValidateSource checks source name as a whole (its fields with the defaults
// filled in, see SourceDefaults): weir.yaml and sources created through the
// API go through it. The error is a *field.Error whose path is relative to
// the source ("name", "verify.scheme", "type" ...).
func (c *Config) ValidateSource(name string, s Source) error {
	if err := ValidSourceName(name); err != nil {
		return field.Wrap("name", err)
	}
	if err := s.validate(); err != nil {
		return err
	}
	if s.MaxBody+64<<10 > int64(c.Bus.MaxPayload) {
		return field.Errorf("max_body", "%d does not fit bus.max_payload %d with the envelope (64 KiB)", s.MaxBody, c.Bus.MaxPayload)
	}
	if !validOnInvalid(s.OnInvalid) {
		return field.Errorf("on_invalid", "%q is not quarantine or reject", s.OnInvalid)
	}
	return nil
}

// SourceDefaults fills in what s leaves unset from ingress and policy.
func (c *Config) SourceDefaults(s Source) Source {
	if s.DedupeWindow == 0 {
		s.DedupeWindow = c.Ingress.DedupeWindow
	}
	if s.MaxBody == 0 {
		s.MaxBody = c.Ingress.MaxBody
	}
	if s.Verify.Tolerance == 0 {
		s.Verify.Tolerance = c.Ingress.Tolerance
	}
	if s.OnInvalid == "" {
		s.OnInvalid = c.Policy.OnInvalid
	}
	if s.Priority == "" {
		s.Priority = "normal"
	}
	return s
}

func (s Source) validate() error {
	if s.Verify.Scheme == "" {
		return field.Errorf("verify.scheme", "required (one of %s; write none explicitly for unsigned sources)", strings.Join(Schemes, ", "))
	}
	if !slices.Contains(Schemes, s.Verify.Scheme) {
		return field.Errorf("verify.scheme", "unknown scheme %q (want one of %s)", s.Verify.Scheme, strings.Join(Schemes, ", "))
	}
	if s.Verify.Scheme != "none" && len(s.Verify.Secrets) == 0 {
		return field.Errorf("verify.secrets", "at least one secret is required for scheme %s", s.Verify.Scheme)
	}
	for i, sec := range s.Verify.Secrets {
		if sec == "" {
			return field.Errorf(fmt.Sprintf("verify.secrets[%d]", i), "is empty")
		}
	}
	switch {
	case s.Type == "" && s.TypeFrom == "":
		return field.Errorf("type", "required (or type_from)")
	case s.Type != "" && s.TypeFrom != "":
		return field.Errorf("type_from", "set either type or type_from, not both")
	case s.Type != "":
		if err := ValidType(s.Type); err != nil {
			return field.Wrap("type", err)
		}
	default:
		if err := validLocator(s.TypeFrom); err != nil {
			return field.Wrap("type_from", err)
		}
	}
	if s.IdempotencyKey != "" {
		if err := validLocator(s.IdempotencyKey); err != nil {
			return field.Wrap("idempotency_key", err)
		}
	}
	if s.DedupeWindow < 0 {
		return field.Errorf("dedupe_window", "must be positive")
	}
	if s.MaxBody < 0 {
		return field.Errorf("max_body", "must be positive")
	}
	if r := s.RateLimit; r != nil && (r.PerSecond <= 0 || r.Burst < 0) {
		return field.Errorf("rate_limit.per_second", "must be positive (and burst not negative)")
	}
	if s.Priority != "" && !slices.Contains(Priorities, s.Priority) {
		return field.Errorf("priority", "%q is not low, normal or essential", s.Priority)
	}
	return nil
}

// sourceError puts a source's field error under sources.<name>; the name's
// own error is about the key itself.
func sourceError(name string, err error) error {
	var fe *field.Error
	if errors.As(err, &fe) {
		if fe.Path == "name" {
			fe.Path = ""
		}
		return fe.Prefix("sources." + name)
	}
	return fmt.Errorf("sources.%s: %w", name, err)
}

// validLocator checks "header:<Name>" and "json:<RFC 6901 pointer>".
func validLocator(l string) error {
	kind, arg, ok := strings.Cut(l, ":")
	switch {
	case ok && kind == "header" && arg != "":
		return nil
	case ok && kind == "json" && strings.HasPrefix(arg, "/"):
		return nil
	}
	return fmt.Errorf("%q: want header:<Name> or json:/<pointer>", l)
}

// validSourcePrefix checks a token's source binding: a non-empty URI
// reference without spaces, outside webhook ingress's /sources/.
func validSourcePrefix(p string) error {
	if p == "" {
		return fmt.Errorf("must not be empty")
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("%q: a source prefix has no spaces or control characters", p)
		}
	}
	if p == "/sources" || strings.HasPrefix(p, "/sources/") {
		return fmt.Errorf("%q: /sources/ is reserved to webhook ingress, no token may publish there", p)
	}
	return nil
}

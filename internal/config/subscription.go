package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/field"
)

// Duration is a time.Duration written as "15s", "5m" or "6h" in YAML and JSON
// alike, so that the API and weir.yaml describe subscriptions the same way.
type Duration time.Duration

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes the duration as Go writes it ("1h30m0s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads "15s"; a bare number is refused, since its unit would be a guess.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (e.g. 30s, 5m, 6h)", b)
	}
	*d = Duration(v)
	return nil
}

// Delivery holds the policy of every push subscription.
type Delivery struct {
	// Allow lists addresses (CIDR or IP) that push URLs may reach even where the
	// defaults or Deny refuse them.
	Allow []string `yaml:"allow" json:"allow,omitempty"`
	// Deny lists further addresses push URLs may not reach. Link-local and cloud
	// metadata addresses are always denied unless allowed explicitly.
	Deny []string `yaml:"deny" json:"deny,omitempty"`
	// AttemptsMaxAge is how long delivery attempts are kept for the API. Default 168h.
	AttemptsMaxAge time.Duration `yaml:"attempts_max_age" json:"-"`
	// DeadLetterMaxAge is how long dead letters are kept. Default 720h (30 days).
	DeadLetterMaxAge time.Duration `yaml:"deadletter_max_age" json:"-"`
}

// Subscription hands events of some types to one micro app, by push or pull.
// It is declared in weir.yaml or created through the API (POST /v1/subscriptions);
// when both name the same subscription, weir.yaml wins and the API may not change it.
type Subscription struct {
	// Types are event type patterns: "order.*" (one segment), "order.>" (one or
	// more), "order.created". At least one.
	Types []string `yaml:"types" json:"types"`
	// Filter is an optional CEL expression over the event, e.g.
	// `has(data.total) && data.total > 100`. Events it rejects are skipped.
	Filter string `yaml:"filter" json:"filter,omitempty"`
	// Start is where a new subscription begins: "new" (default, events arriving
	// from now on) or "all" (everything the bus still holds).
	Start string `yaml:"start" json:"start,omitempty"`
	// Push delivers by signed HTTP POST. Exactly one of Push and Pull.
	Push *Push `yaml:"push" json:"push,omitempty"`
	// Pull lets the app fetch events (long-poll) or stream them (SSE).
	Pull *Pull `yaml:"pull" json:"pull,omitempty"`
}

// Push is how a push subscription delivers.
type Push struct {
	// URL receives POSTs of CloudEvents structured JSON.
	URL string `yaml:"url" json:"url"`
	// Secret signs deliveries the Standard Webhooks way: whsec_<base64>.
	Secret string `yaml:"secret" json:"secret,omitempty"`
	// Timeout of one attempt. Default 15s.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// MaxAttempts before the event becomes a dead letter. Default 12.
	MaxAttempts int `yaml:"max_attempts" json:"max_attempts,omitempty"`
	// MaxAge: an event still undelivered this long after it was stored becomes a
	// dead letter even with attempts left. 0 (default) means no limit.
	MaxAge Duration `yaml:"max_age" json:"max_age,omitempty"`
	// Retry is the schedule between attempts.
	Retry Retry `yaml:"retry" json:"retry"`
	// MaxInFlight bounds concurrent deliveries. Default 16.
	MaxInFlight int `yaml:"max_in_flight" json:"max_in_flight,omitempty"`
	// Ordered delivers events with the same partitionkey one at a time, in order.
	Ordered bool `yaml:"ordered" json:"ordered,omitempty"`
	// Breaker pauses an endpoint that keeps failing.
	Breaker Breaker `yaml:"breaker" json:"breaker"`
}

// Retry is an exponential schedule with jitter.
type Retry struct {
	// Initial delay after the first failure. Default 5s.
	Initial Duration `yaml:"initial" json:"initial,omitempty"`
	// Max delay between attempts. Default 6h.
	Max Duration `yaml:"max" json:"max,omitempty"`
}

// Breaker is a push subscription's circuit breaker.
type Breaker struct {
	// Threshold of consecutive failures that opens the breaker. Default 10.
	Threshold int `yaml:"threshold" json:"threshold,omitempty"`
	// Cooldown before the first probe. Default 30s; doubles after each failed probe, up to 10m.
	Cooldown Duration `yaml:"cooldown" json:"cooldown,omitempty"`
}

// Pull is how a pull subscription hands events out.
type Pull struct {
	// AckWait is how long a fetched event may stay unacknowledged before it is
	// handed out again. Default 30s.
	AckWait Duration `yaml:"ack_wait" json:"ack_wait,omitempty"`
	// MaxAttempts before the event becomes a dead letter. 0 (default): no limit.
	MaxAttempts int `yaml:"max_attempts" json:"max_attempts,omitempty"`
}

// WithDefaults fills a subscription's unset fields.
func (s *Subscription) WithDefaults() {
	if s.Start == "" {
		s.Start = "new"
	}
	if p := s.Push; p != nil {
		if p.Timeout == 0 {
			p.Timeout = Duration(15 * time.Second)
		}
		if p.MaxAttempts == 0 {
			p.MaxAttempts = 12
		}
		if p.Retry.Initial == 0 {
			p.Retry.Initial = Duration(5 * time.Second)
		}
		if p.Retry.Max == 0 {
			p.Retry.Max = Duration(6 * time.Hour)
		}
		if p.MaxInFlight == 0 {
			p.MaxInFlight = 16
		}
		if p.Breaker.Threshold == 0 {
			p.Breaker.Threshold = 10
		}
		if p.Breaker.Cooldown == 0 {
			p.Breaker.Cooldown = Duration(30 * time.Second)
		}
	}
	if p := s.Pull; p != nil && p.AckWait == 0 {
		p.AckWait = Duration(30 * time.Second)
	}
}

// ValidSubscriptionName reports why name cannot name a subscription.
func ValidSubscriptionName(name string) error {
	if !sourceName.MatchString(name) {
		return fmt.Errorf("the name must be 1-64 letters, digits, '-' or '_', starting with a letter or digit")
	}
	return nil
}

// Validate checks a subscription; an error is a *field.Error whose Path is
// the field under path (e.g. "subscriptions.fulfillment.push.url", or
// "push.url" when path is empty). The CEL filter and the push
// URL's address policy are checked by the delivery package, which owns them.
func (s *Subscription) Validate(path string) error {
	if err := validTypePatterns(path, s.Types, "subscriptions"); err != nil {
		return err
	}
	if s.Start != "new" && s.Start != "all" {
		return field.Errorf(field.Join(path, "start"), "%q is not new or all", s.Start)
	}
	switch {
	case s.Push == nil && s.Pull == nil:
		return field.Errorf(path, "set push (weir POSTs events to your app) or pull (your app fetches them)")
	case s.Push != nil && s.Pull != nil:
		return field.Errorf(field.Join(path, "pull"), "set either push or pull, not both")
	}
	if p := s.Push; p != nil {
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return field.Errorf(field.Join(path, "push.url"), "%q is not an http(s) URL", p.URL)
		}
		if p.Secret != "" && !strings.HasPrefix(p.Secret, "whsec_") {
			return field.Errorf(field.Join(path, "push.secret"), "a Standard Webhooks secret starts with whsec_ (e.g. whsec_ followed by base64 of 24-64 random bytes)")
		}
		if p.Secret == "" {
			return field.Errorf(field.Join(path, "push.secret"), "required: deliveries are signed so that your app can trust them (whsec_...)")
		}
		if key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(p.Secret, "whsec_")); err != nil || len(key) < 16 {
			return field.Errorf(field.Join(path, "push.secret"), "after whsec_ comes the key in base64, at least 16 bytes (e.g. whsec_ + `openssl rand -base64 32`)")
		}
		if p.Timeout.D() <= 0 || p.Timeout.D() > 5*time.Minute {
			return field.Errorf(field.Join(path, "push.timeout"), "must be between 1ms and 5m")
		}
		if p.MaxAttempts < 1 || p.MaxAttempts > 100 {
			return field.Errorf(field.Join(path, "push.max_attempts"), "%d is out of range 1..100", p.MaxAttempts)
		}
		if p.Retry.Initial.D() <= 0 || p.Retry.Max.D() < p.Retry.Initial.D() {
			return field.Errorf(field.Join(path, "push.retry"), "initial must be positive and max at least initial")
		}
		if p.MaxInFlight < 1 || p.MaxInFlight > 1000 {
			return field.Errorf(field.Join(path, "push.max_in_flight"), "%d is out of range 1..1000", p.MaxInFlight)
		}
		if p.MaxAge < 0 {
			return field.Errorf(field.Join(path, "push.max_age"), "must not be negative")
		}
	}
	if p := s.Pull; p != nil && (p.AckWait.D() < time.Second || p.AckWait.D() > 12*time.Hour) {
		return field.Errorf(field.Join(path, "pull.ack_wait"), "must be between 1s and 12h")
	}
	return nil
}

// validTypePatterns checks the types of a consumer of the bus (a
// subscription, a sink): at least one, each a valid pattern, and no two
// that overlap in part. what names the consumer in the advice ("two
// subscriptions").
func validTypePatterns(path string, types []string, what string) error {
	if len(types) == 0 {
		return field.Errorf(field.Join(path, "types"), "at least one type pattern is required (e.g. [order.*])")
	}
	for i, t := range types {
		if err := ValidPattern(t); err != nil {
			return field.Wrap(field.Join(path, fmt.Sprintf("types[%d]", i)), err)
		}
	}
	for j, b := range types {
		for _, a := range types[:j] {
			if event.PatternsOverlap(a, b) && !event.CoversPattern(a, b) && !event.CoversPattern(b, a) {
				return field.Errorf(field.Join(path, fmt.Sprintf("types[%d]", j)),
					"%q and %q overlap in part (an event type can match both), which the bus cannot follow as two filters: use one pattern that covers both (e.g. order.>), or two %s", a, b, what)
			}
		}
	}
	return nil
}

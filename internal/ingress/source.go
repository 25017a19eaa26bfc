package ingress

import (
	"errors"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/verify"
)

// Source is a configured webhook endpoint, compiled for the request path.
type Source struct {
	name       string
	verifier   verify.Verifier
	typ        string  // fixed type, or ""
	typeFrom   locator // where the type is, when not fixed
	typePrefix string
	idFrom     locator // the sender's delivery id
	svixID     bool    // idFrom is webhook-id, which a Svix-signed request carries as svix-id
	window     time.Duration
	onBody     bool // de-duplicate on the body's hash, not the delivery id
	maxBody    int64
	allowRaw   bool
	onInvalid  string
	limiter    *rate.Limiter // nil: no limit
	priority   Priority
}

// NewSource compiles the configuration of source name; an error is a
// *field.Error whose path is under sources.<name>.
func NewSource(name string, c config.Source) (*Source, error) {
	s, err := compileSource(name, c)
	var fe *field.Error
	if errors.As(err, &fe) {
		return nil, fe.Prefix("sources." + name)
	}
	return s, err
}

// compileSource is NewSource with field paths relative to the source
// ("verify.secrets[0]", "type_from"), as the API names them.
func compileSource(name string, c config.Source) (*Source, error) {
	v, err := verify.New(verify.Config{
		Scheme:          c.Verify.Scheme,
		Secrets:         c.Verify.Secrets,
		Tolerance:       c.Verify.Tolerance,
		Header:          c.Verify.Header,
		Algorithm:       c.Verify.Algorithm,
		Encoding:        c.Verify.Encoding,
		Prefix:          c.Verify.Prefix,
		TimestampHeader: c.Verify.TimestampHeader,
	})
	if err != nil {
		var fe *field.Error
		if errors.As(err, &fe) {
			return nil, fe
		}
		return nil, field.Wrap("verify", err)
	}
	s := &Source{
		name:       name,
		verifier:   v,
		typ:        c.Type,
		typePrefix: c.TypePrefix,
		window:     c.DedupeWindow,
		onBody:     c.DedupeOnBody,
		maxBody:    c.MaxBody,
		allowRaw:   c.AllowRaw,
		onInvalid:  c.OnInvalid,
		priority:   ParsePriority(c.Priority),
	}
	if r := c.RateLimit; r != nil {
		burst := r.Burst
		if burst == 0 {
			burst = max(1, int(r.PerSecond))
		}
		s.limiter = rate.NewLimiter(rate.Limit(r.PerSecond), burst)
	}
	if s.typeFrom, err = parseLocator(c.TypeFrom); err != nil {
		return nil, field.Wrap("type_from", err)
	}
	idFrom := c.IdempotencyKey
	if idFrom == "" {
		idFrom = v.DeliveryIDFrom()
		s.svixID = c.Verify.Scheme == verify.SchemeStandardWebhooks
	}
	if s.idFrom, err = parseLocator(idFrom); err != nil {
		return nil, field.Wrap("idempotency_key", err)
	}
	return s, nil
}

// Name is the source's name, the {source} of POST /in/{source}.
func (s *Source) Name() string { return s.name }

// deliveryID finds the sender's delivery id. A Standard Webhooks source also
// takes Svix's header names (svix-signature over svix-id); the id is then
// svix-id, the one the signature covered, not a webhook-id header that a
// replayer could add to make the replay look new.
func (s *Source) deliveryID(h http.Header, doc func() (any, bool)) string {
	if s.svixID && h.Get("Webhook-Signature") == "" && h.Get("Svix-Signature") != "" {
		return h.Get("Svix-Id")
	}
	id, _ := s.idFrom.find(h, doc)
	return id
}

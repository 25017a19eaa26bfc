// Package config reads weir.yaml: weir's sources, tokens, bus and server settings
// declared as code. Secrets come from the environment through ${NAME} references,
// which are expanded inside string values only (never in keys), so a secret that
// contains YAML syntax cannot change the shape of the file.
package config

import (
	"time"
)

// Config is the whole of weir.yaml. Every field has a default (see WithDefaults),
// so an empty file, or no file at all, is a valid configuration.
type Config struct {
	// DataDir is where the embedded bus keeps its files and where weir stores the
	// bootstrap admin token. Default "./weir-data". The --data flag overrides it.
	DataDir string `yaml:"data_dir"`

	// Server holds the HTTP listener's settings.
	Server Server `yaml:"server"`

	// Bus says which NATS JetStream weir stores events on.
	Bus Bus `yaml:"bus"`

	// Ingress holds defaults that apply to every source and to POST /v1/events.
	Ingress Ingress `yaml:"ingress"`

	// Log controls weir's structured logs.
	Log Log `yaml:"log"`

	// Tokens are the API credentials. When none is declared, weir creates one admin
	// token on first start, stores its hash in the data directory and prints it once.
	Tokens []Token `yaml:"tokens"`

	// Sources are the inbound webhook endpoints, keyed by name: POST /in/{name}.
	Sources map[string]Source `yaml:"sources"`

	// Delivery is the policy of push subscriptions (allowed target addresses).
	Delivery Delivery `yaml:"delivery"`

	// Subscriptions hand events to micro apps, keyed by name.
	Subscriptions map[string]*Subscription `yaml:"subscriptions"`

	// Sinks load events into stores (ClickHouse), keyed by name.
	Sinks map[string]*Sink `yaml:"sinks"`

	// Views are read models kept up to date from the bus, keyed by name.
	Views map[string]*View `yaml:"views"`

	// CDC sources turn row changes of databases into events, keyed by name.
	CDC map[string]*CDC `yaml:"cdc"`

	// Policy holds rules for every event (contracts required, invalid events).
	Policy Policy `yaml:"policy"`

	// Retention is how long events are kept, by type.
	Retention Retention `yaml:"retention"`

	// Archive keeps every event in compressed files, beyond retention.
	Archive Archive `yaml:"archive"`

	// Contracts are event types' schemas, keyed by type.
	Contracts map[string]*Contract `yaml:"contracts"`

	// BaseDir is the folder of the configuration file; paths in it are relative
	// to this folder. Set by Load.
	BaseDir string `yaml:"-"`

	// PublicURL is how producers and consumers reach this weir, used in
	// dataschema URIs. Default http://<server.addr>.
	PublicURL string `yaml:"public_url"`

	// unset are the ${NAME} references LoadLazy left empty; see NeedEnv.
	unset []UnsetEnvError
}

// Server is the HTTP listener that carries the API, ingress and operations routes.
type Server struct {
	// Addr is the host:port to listen on. Default "127.0.0.1:8080". The --addr flag
	// overrides it.
	Addr string `yaml:"addr"`

	// ShutdownTimeout bounds how long SIGTERM waits for in-flight requests before
	// weir closes the listener hard. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	// ReadHeaderTimeout bounds how long a client may take to send request headers.
	// Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`

	// BodyTimeout bounds how long a client may take to send a request's body,
	// on every route; a webhook or POST /v1/events that is slower gets 408, and
	// on other routes the connection is closed. Default 30s.
	BodyTimeout time.Duration `yaml:"body_timeout"`

	// IdleTimeout closes keep-alive connections idle for this long. Default 2m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`

	// MaxConnections bounds the open client connections; past it new
	// connections wait in the kernel's backlog. Default 10000.
	MaxConnections int `yaml:"max_connections"`

	// MaxClientConnections bounds the open connections from one client IP
	// address, so that one client cannot hold every connection; past it a new
	// connection from that address is answered 429 and closed. Default a
	// quarter of MaxConnections. Behind a proxy every connection comes from
	// the proxy: raise it up to MaxConnections.
	MaxClientConnections int `yaml:"max_client_connections"`

	// CORSOrigins are the web origins (https://retool.example.com) whose
	// pages may read /v1/views from a browser. A request from any other
	// origin gets no CORS headers. Default none.
	CORSOrigins []string `yaml:"cors_origins"`
}

// Bus selects the event bus: the embedded NATS server (default) or an external
// NATS JetStream cluster (when URL is set).
type Bus struct {
	// URL of an external NATS server or cluster (comma-separated for several seeds),
	// e.g. "nats://nats-1:4222,nats://nats-2:4222". Empty means the embedded server.
	URL string `yaml:"url"`

	// CredsFile is a NATS credentials file for the external bus. Optional.
	CredsFile string `yaml:"creds_file"`

	// Listen exposes the embedded server to NATS clients on this host:port (for
	// `weir tail` or any NATS client). Empty (the default) means in-process only.
	// weir never picks 4222 by itself. Clients must give the user and password
	// (User and Password, or <data_dir>/bus-credentials.json). Only loopback
	// addresses are accepted unless ListenRemote is set.
	Listen string `yaml:"listen"`

	// ListenRemote allows Listen on an address other machines can reach
	// (0.0.0.0, a LAN address, a host name). Default false.
	ListenRemote bool `yaml:"listen_remote"`

	// User and Password are what clients of the listening embedded server must
	// give; use ${ENV}. Both empty (the default): weir generates them on first
	// start and writes them, mode 0600, to <data_dir>/bus-credentials.json.
	User string `yaml:"user"`
	// Password goes with User; at least 16 characters.
	Password string `yaml:"password"`

	// Sync is when the embedded server forces what it stored to disk (fsync):
	// "always" before every ack, or a duration such as "1s" for a background
	// sync at that interval. Default "1s": an OS crash loses at most about a
	// second of acked events, for a cost within the noise of weir bench (the
	// NATS default is 2m). See docs/performance.md for what each setting
	// survives and costs.
	Sync string `yaml:"sync"`

	// Replicas is the replication factor of weir's streams on an external cluster.
	// Default 1; use 3 on a three-node cluster.
	Replicas int `yaml:"replicas"`

	// PublishTimeout bounds how long a request waits for JetStream's ack before it
	// answers 503. Default 5s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`

	// MaxAge is how long the EVENTS stream keeps events. Default 168h (7 days).
	MaxAge time.Duration `yaml:"max_age"`

	// MaxPayload raises the embedded server's largest message. Default 8 MiB, which
	// leaves room for an event of ingress.max_body plus its envelope.
	MaxPayload int32 `yaml:"max_payload"`
}

// Ingress holds the defaults of every source.
type Ingress struct {
	// MaxBody is the largest request body accepted, in bytes. Default 1048576
	// (1 MiB). Larger bodies get 413.
	MaxBody int64 `yaml:"max_body"`

	// DedupeWindow is how long a delivery id is remembered. Default 24h.
	DedupeWindow time.Duration `yaml:"dedupe_window"`

	// Tolerance is how far a signed timestamp may be from now before the request is
	// refused as a replay. Default 5m.
	Tolerance time.Duration `yaml:"tolerance"`

	// MaxPending bounds the events one node holds while it waits for the bus to
	// store them (webhooks and POST /v1/events together). Past it every request
	// gets 503 overloaded with Retry-After, whatever its priority. Default 4096.
	MaxPending int `yaml:"max_pending"`

	// SlowAck is the time to store an event at which the bus counts as slow.
	// Load pressure is the larger of pending/max_pending and ack time/slow_ack:
	// low-priority sources are shed from a pressure of 0.5, normal ones from 0.8,
	// essential ones only when max_pending is reached. Default 1s.
	SlowAck time.Duration `yaml:"slow_ack"`
}

// Log controls weir's logs.
type Log struct {
	// Level is debug, info (default), warn or error. At debug every accepted event is
	// logged with its id.
	Level string `yaml:"level"`

	// Format is text (default) or json.
	Format string `yaml:"format"`
}

// Token is an API credential.
type Token struct {
	// Name identifies the token in logs and metrics.
	Name string `yaml:"name"`

	// Secret is the bearer value; use ${ENV} so that it is not written in the file.
	// At least 16 characters.
	Secret string `yaml:"secret"`

	// Roles are "admin", "publish:<type pattern>" or "subscribe:<type pattern>".
	// Patterns use NATS wildcards over the dot-separated type: "order.*" matches
	// one segment, "order.>" one or more.
	Roles []string `yaml:"roles"`

	// Sources, when set, bind the token to source prefixes: it may publish
	// (POST /v1/events) only events whose source is under one of them, e.g.
	// "/apps/warehouse" covers /apps/warehouse and /apps/warehouse/eu but not
	// /apps/warehouse2. Unset: any source outside /sources/, which is webhook
	// ingress's own.
	Sources []string `yaml:"sources"`
}

// Source is an inbound webhook endpoint, POST /in/{name}.
type Source struct {
	// Verify says how the sender signs its requests.
	Verify Verify `yaml:"verify"`

	// Type is the fixed event type of this source, e.g. "order.created".
	Type string `yaml:"type"`

	// TypeFrom takes the event type from the request: "header:X-GitHub-Event" or
	// "json:/event_type" (an RFC 6901 pointer into the body). Exactly one of Type
	// and TypeFrom is set.
	TypeFrom string `yaml:"type_from"`

	// TypePrefix is put before a type taken with TypeFrom, e.g. "github." gives
	// "github.push".
	TypePrefix string `yaml:"type_prefix"`

	// IdempotencyKey names the sender's delivery id used for de-duplication:
	// "header:<Name>" or "json:<pointer>". Default: the scheme's own id
	// (webhook-id, X-GitHub-Delivery, Stripe's /id, X-Shopify-Webhook-Id). When
	// neither exists, every request is a new event.
	IdempotencyKey string `yaml:"idempotency_key"`

	// DedupeWindow overrides ingress.dedupe_window for this source.
	DedupeWindow time.Duration `yaml:"dedupe_window"`

	// DedupeOnBody de-duplicates on the SHA-256 of the raw body (the bytes the
	// signature covers) instead of the delivery id, which GitHub and Shopify do
	// not sign: a replayed body under a new delivery id header is then answered
	// as a duplicate within dedupe_window. Only for senders whose distinct
	// events never have identical bodies.
	DedupeOnBody bool `yaml:"dedupe_on_body"`

	// MaxBody overrides ingress.max_body for this source, in bytes.
	MaxBody int64 `yaml:"max_body"`

	// AllowRaw accepts bodies that are not JSON; they are carried base64-encoded
	// (data_base64) with the request's Content-Type.
	AllowRaw bool `yaml:"allow_raw"`

	// OnInvalid overrides policy.on_invalid for this source: quarantine or reject.
	OnInvalid string `yaml:"on_invalid"`

	// RateLimit bounds the requests this source may send to one weir node; past
	// it, weir answers 429 with Retry-After. Unset: no limit.
	RateLimit *RateLimit `yaml:"rate_limit"`

	// Priority decides who is refused first when the bus slows down or the node is
	// saturated: low sources are shed first, then normal ones (the default);
	// essential ones keep flowing until ingress.max_pending is reached.
	Priority string `yaml:"priority"`
}

// Priorities are the values of a source's priority, from shed first to shed last.
var Priorities = []string{"low", "normal", "essential"}

// RateLimit is a token bucket.
type RateLimit struct {
	// PerSecond is the sustained rate.
	PerSecond float64 `yaml:"per_second"`
	// Burst is how many requests may come at once. Default: PerSecond, at least 1.
	Burst int `yaml:"burst"`
}

// Verify is a source's signature scheme.
type Verify struct {
	// Scheme is standard-webhooks, github, stripe, shopify, hmac or none. It has no
	// default: "none" must be written explicitly.
	Scheme string `yaml:"scheme"`

	// Secrets are tried in order; list the new one next to the old during rotation.
	Secrets []string `yaml:"secrets"`

	// Tolerance overrides ingress.tolerance for this source.
	Tolerance time.Duration `yaml:"tolerance"`

	// Header carries the signature (hmac only), e.g. "X-Signature".
	Header string `yaml:"header"`

	// Algorithm is sha256 (default) or sha512 (hmac only).
	Algorithm string `yaml:"algorithm"`

	// Encoding of the digest: hex (default) or base64 (hmac only).
	Encoding string `yaml:"encoding"`

	// Prefix before the digest in the header, e.g. "sha256=" (hmac only).
	Prefix string `yaml:"prefix"`

	// TimestampHeader, when set, carries a unix timestamp; the signed content is
	// "<timestamp>.<body>" and the timestamp is checked against the tolerance
	// (hmac only).
	TimestampHeader string `yaml:"timestamp_header"`
}

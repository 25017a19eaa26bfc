// Package api serves weir's REST API under /v1/. Every route needs a bearer
// token; handlers sit on top of the packages below (ingress, bus) and call down.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	rpprof "runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/contract"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/ingress"
	"github.com/weir-dev/weir/internal/problem"
	"github.com/weir-dev/weir/internal/retention"
	"github.com/weir-dev/weir/internal/sink"
	"github.com/weir-dev/weir/internal/tail"
	"github.com/weir-dev/weir/internal/token"
	"github.com/weir-dev/weir/internal/traffic"
	"github.com/weir-dev/weir/internal/view"
)

// API holds what the /v1/ handlers need.
type API struct {
	tokens        *token.Store
	pub           *ingress.Publisher
	deliv         *delivery.Manager
	sinks         *sink.Manager
	metrics       *ingress.Metrics
	log           *slog.Logger
	maxBody       int64
	bodyTimeout   time.Duration
	dedupeWindow  time.Duration
	onInvalid     string
	contracts     *contract.Registry
	catalog       func() contract.Catalog
	keeper        *retention.Keeper
	archiveStatus func() any
	links         *token.Links
	publicURL     string
	traffic       *traffic.Counters
	tails         *tail.Tailer
	sources       *ingress.Sources
	requests      *ingress.RequestLog
	views         *view.Manager
	cdc           *cdc.Manager
	corsOrigins   []string
}

// Config are the API's settings.
type Config struct {
	// MaxBody bounds a POST /v1/events body.
	MaxBody int64
	// BodyTimeout bounds how long a POST /v1/events body may take to arrive.
	BodyTimeout time.Duration
	// DedupeWindow is how long (source, id) pairs are remembered.
	DedupeWindow time.Duration
	// OnInvalid is policy.on_invalid: quarantine or reject.
	OnInvalid string
	// Contracts is the registry; nil hides the contract routes.
	Contracts *contract.Registry
	// Catalog describes every event type, source and subscription, for AsyncAPI.
	Catalog func() contract.Catalog
	// Retention is the retention keeper; nil hides its routes.
	Retention *retention.Keeper
	// ArchiveStatus reports the archive's progress; nil hides its route.
	ArchiveStatus func() any
	// PublicURL is where browsers reach weir; portal sign-in links start with it.
	PublicURL string
	// Sources manages webhook sources; nil hides their routes.
	Sources *ingress.Sources
	// Requests is the sources' request log; nil hides its route.
	Requests *ingress.RequestLog
	// CORSOrigins may read /v1/views from browser pages (server.cors_origins).
	CORSOrigins []string
}

// Deps are the parts the API serves.
type Deps struct {
	// Tokens authenticate requests.
	Tokens *token.Store
	// Publisher stores events published through POST /v1/events.
	Publisher *ingress.Publisher
	// Delivery runs subscriptions, replays and dead letters.
	Delivery *delivery.Manager
	// Sinks runs the sinks; nil hides their routes.
	Sinks *sink.Manager
	// Metrics are ingress's collectors.
	Metrics *ingress.Metrics
	// Log receives the API's logs.
	Log *slog.Logger
	// Links makes portal sign-in links; nil hides POST /v1/portal/links.
	Links *token.Links
	// Traffic are the live figures of GET /v1/traffic; nil hides the route.
	Traffic *traffic.Counters
	// Tails serve GET /v1/events/stream; nil hides the route.
	Tails *tail.Tailer
	// Views serve /v1/views; nil hides the routes.
	Views *view.Manager
	// CDC runs the cdc sources; nil hides /v1/cdc.
	CDC *cdc.Manager
}

// New builds the API.
func New(cfg Config, deps Deps) *API {
	return &API{tokens: deps.Tokens, pub: deps.Publisher, deliv: deps.Delivery, sinks: deps.Sinks, metrics: deps.Metrics, log: deps.Log,
		maxBody: cfg.MaxBody, bodyTimeout: cfg.BodyTimeout,
		dedupeWindow: cfg.DedupeWindow, onInvalid: cfg.OnInvalid, contracts: cfg.Contracts, catalog: cfg.Catalog,
		keeper: cfg.Retention, archiveStatus: cfg.ArchiveStatus, links: deps.Links, publicURL: cfg.PublicURL,
		traffic: deps.Traffic, tails: deps.Tails,
		sources: cfg.Sources, requests: cfg.Requests, views: deps.Views, cdc: deps.CDC, corsOrigins: cfg.CORSOrigins}
}

// Register adds the /v1/ routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.Handle("POST /v1/events", a.auth(http.HandlerFunc(a.publishEvents)))
	mux.Handle("GET /v1/whoami", a.auth(http.HandlerFunc(a.whoami)))
	a.registerSubscriptions(mux)
	a.registerContracts(mux)
	a.registerRetention(mux)
	a.registerPortal(mux)
	a.registerTraffic(mux)
	a.registerSources(mux)
	a.registerSinks(mux)
	a.registerCDC(mux)
	a.registerViews(mux)
	// Profiles show how weir spends its time; only admins may take them.
	mux.Handle("/debug/pprof/", a.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tokenOf(r).IsAdmin() {
			forbidden(w, r, "Authorization", "only admin tokens may read profiles")
			return
		}
		switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
		case "profile":
			pprof.Profile(w, r)
		case "trace":
			pprof.Trace(w, r)
		case "symbol":
			pprof.Symbol(w, r)
		case "cmdline":
			pprof.Cmdline(w, r)
		default:
			// pprof.Index answers an unknown profile in text/plain.
			if name := strings.TrimPrefix(r.URL.Path, "/debug/pprof/"); name != "" && rpprof.Lookup(name) == nil {
				problem.New(http.StatusNotFound, "not-found", "there is no profile "+strconv.Quote(name)).Write(w, r)
				return
			}
			pprof.Index(w, r)
		}
	})))
	mux.Handle("/v1/", a.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem.New(http.StatusNotFound, "not-found", "there is no API route "+r.Method+" "+r.URL.Path).Write(w, r)
	})))
}

type tokenKey struct{}

// auth checks the bearer token before any /v1/ handler runs.
func (a *API) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/stream") {
			if at := r.URL.Query().Get("access_token"); at != "" {
				r.Header.Set("Authorization", "Bearer "+at)
			}
		}
		t, err := a.tokens.Authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="weir"`)
			problem.New(http.StatusUnauthorized, "unauthorized", err.Error()).WithField("Authorization").Write(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, t)))
	})
}

// tokenOf is the authenticated token of a request.
func tokenOf(r *http.Request) *token.Token {
	t, _ := r.Context().Value(tokenKey{}).(*token.Token)
	return t
}

func (a *API) whoami(w http.ResponseWriter, r *http.Request) {
	t := tokenOf(r)
	writeJSON(w, http.StatusOK, map[string]any{"name": t.Name, "roles": t.Roles})
}

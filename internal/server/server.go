package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weir-dev/weir/internal/api"
	"github.com/weir-dev/weir/internal/archive"
	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/cdc/mysql"
	"github.com/weir-dev/weir/internal/cdc/postgres"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/contract"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/ingress"
	"github.com/weir-dev/weir/internal/portal"
	"github.com/weir-dev/weir/internal/problem"
	"github.com/weir-dev/weir/internal/retention"
	"github.com/weir-dev/weir/internal/sink"
	"github.com/weir-dev/weir/internal/sink/clickhouse"
	"github.com/weir-dev/weir/internal/tail"
	"github.com/weir-dev/weir/internal/token"
	"github.com/weir-dev/weir/internal/traffic"
	"github.com/weir-dev/weir/internal/view"
)

// Server is one running weir node.
type Server struct {
	cfg       *config.Config
	log       *slog.Logger
	out       io.Writer
	bus       *bus.Bus
	deliv     *delivery.Manager
	sinks     *sink.Manager
	keeper    *retention.Keeper
	archiver  *archive.Archiver
	dead      *deadletter.Store
	contracts *contract.Registry
	traffic   *traffic.Counters
	tails     *tail.Tailer
	sources   *ingress.Sources
	requests  *ingress.RequestLog
	views     *view.Manager
	cdc       *cdc.Manager
	http      *http.Server
	listener  net.Listener
	limited   *clientLimitListener
	served    chan error
	registry  *prometheus.Registry
	stopOnce  sync.Once
	stopErr   error
}

// New prepares a node; out receives what is shown to the operator once (the
// bootstrap admin token).
func New(cfg *config.Config, log *slog.Logger, out io.Writer) *Server {
	return &Server{cfg: cfg, log: log, out: out}
}

// Start opens the bus, builds every part and starts serving HTTP. It returns when
// the node is ready to take requests; on failure everything opened is closed.
func (s *Server) Start(ctx context.Context) (err error) {
	cfg := s.cfg
	sources := make([]*ingress.Source, 0, len(cfg.Sources))
	window := cfg.Ingress.DedupeWindow
	for _, name := range sortedKeys(cfg.Sources) {
		src, err := ingress.NewSource(name, cfg.Sources[name])
		if err != nil {
			return err
		}
		sources = append(sources, src)
		window = max(window, cfg.Sources[name].DedupeWindow)
	}
	// What delivery would refuse is refused now, before the data directory,
	// the bus or the admin token exists.
	if err := delivery.CheckConfig(cfg.Delivery, cfg.Subscriptions); err != nil {
		return err
	}
	if err := sink.CheckConfig(sinkProviders(), cfg.Sinks); err != nil {
		return err
	}
	if err := view.CheckConfig(cfg.Views); err != nil {
		return err
	}
	tokens, bootstrap, err := s.tokens()
	if err != nil {
		return err
	}
	s.listener, err = net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("server.addr: %w", err)
	}
	defer func() {
		if err != nil {
			s.closeParts(context.Background())
		}
	}()
	if err := s.openBus(ctx, window); err != nil {
		return err
	}
	s.registry = prometheus.NewRegistry()
	s.registerBusMetrics()

	s.dead, err = deadletter.Open(ctx, s.bus.JetStream(), cfg.Delivery.DeadLetterMaxAge, cfg.Bus.Replicas)
	if err != nil {
		return err
	}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = "http://" + s.listener.Addr().String()
	}
	s.contracts = contract.New(s.bus.JetStream(), cfg.Bus.Replicas, publicURL)
	if err := s.contracts.Start(ctx); err != nil {
		return err
	}
	if err := s.declareContracts(ctx); err != nil {
		return err
	}
	if err := s.buildTraffic(ctx); err != nil {
		return err
	}
	metrics := ingress.NewMetrics(s.registry)
	pub := ingress.NewPublisher(s.bus, &ingress.Contracts{
		Registry: s.contracts, DeadLetters: s.dead, RequireContract: cfg.Policy.RequireContract,
	}, ingress.NewGate(cfg.Ingress.MaxPending, cfg.Ingress.SlowAck), metrics, cfg.Bus.PublishTimeout, s.log, s.traffic)

	acfg, archived := s.archiveConfig()
	var fromArchive delivery.ArchiveReader
	if archived {
		fromArchive = archiveReader(acfg)
	}
	s.deliv, err = delivery.New(s.bus, delivery.Config{
		Subscriptions: cfg.Subscriptions, Delivery: cfg.Delivery, Replicas: cfg.Bus.Replicas, DeadLetters: s.dead,
		Archive: fromArchive, Observer: s.traffic,
	}, delivery.NewMetrics(s.registry), s.log)
	if err != nil {
		return err
	}
	if err := s.deliv.Start(ctx); err != nil {
		return err
	}
	views, err := compileViews(cfg.Views)
	if err != nil {
		return err
	}
	s.logTwins(cfg.Sinks, views)
	s.sinks, err = sink.NewManager(s.bus, sink.ManagerConfig{
		Sinks: cfg.Sinks, Registry: sinkProviders(), DeadLetters: s.dead, Replicas: cfg.Bus.Replicas, Log: s.log,
		Views: views,
	}, sink.NewMetrics(s.registry))
	if err != nil {
		return err
	}
	if err := s.sinks.Start(ctx); err != nil {
		return err
	}
	if err := s.startRetentionAndArchive(ctx, acfg, archived); err != nil {
		return err
	}
	s.views, err = view.New(s.bus.JetStream(), view.Config{Views: cfg.Views, Replicas: cfg.Bus.Replicas, TombstoneTTL: cfg.Bus.MaxAge},
		view.NewMetrics(s.registry), s.log)
	if err != nil {
		return err
	}
	if err := s.views.Start(ctx); err != nil {
		return err
	}
	// Capture starts once contracts take registrations and the bus takes
	// events; it stops first, so that its last changes are confirmed.
	s.cdc = cdc.NewManager(s.bus, cdc.ManagerConfig{
		Sources: cfg.CDC, Registry: cdcReaders(), Contracts: s.contracts, Metrics: cdc.NewMetrics(s.registry),
		Log: s.log, Replicas: cfg.Bus.Replicas,
	})
	if err := s.cdc.Start(ctx); err != nil {
		return err
	}
	s.registry.MustRegister(cdc.NewStatusCollector(s.cdc))

	// In-flight requests are what a graceful shutdown waits for; operators see them.
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "weir_http_in_flight_requests",
		Help: "Ingress and API requests being served.",
	})
	s.registry.MustRegister(inFlight)
	links, err := token.OpenLinks(ctx, s.bus.JetStream(), cfg.Bus.Replicas)
	if err != nil {
		return bus.Unavailable("open the portal's links", err)
	}
	apiMux := http.NewServeMux()
	srcs, requests, err := s.startSources(ctx, sources, window, publicURL)
	if err != nil {
		return err
	}
	apiMux.Handle("POST /in/{source}", ingress.NewWebhooks(srcs, pub, cfg.Server.BodyTimeout, metrics, s.log).RecordTo(requests))
	api.New(api.Config{
		Sources: s.sources, Requests: requests,
		MaxBody: cfg.Ingress.MaxBody, BodyTimeout: cfg.Server.BodyTimeout, DedupeWindow: cfg.Ingress.DedupeWindow, OnInvalid: cfg.Policy.OnInvalid,
		Contracts: s.contracts, Catalog: s.catalog, Retention: s.keeper, ArchiveStatus: s.archiveStatus(), PublicURL: publicURL,
		CORSOrigins: cfg.Server.CORSOrigins,
	}, api.Deps{Tokens: tokens, Publisher: pub, Delivery: s.deliv, Sinks: s.sinks, Metrics: metrics, Log: s.log, Links: links,
		Traffic: s.traffic, Tails: s.tails, Views: s.views, CDC: s.cdc}).Register(apiMux)
	// Both muxes answer an unknown route or method with a problem
	// (docs/errors.md). Probes and metrics are not counted in flight.
	counted := promhttp.InstrumentHandlerInFlight(inFlight, problem.Routes(apiMux))
	refused := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "weir_http_connections_refused_total",
		Help: "Connections answered 429 and closed because their client address was at server.max_client_connections.",
	})
	s.registry.MustRegister(refused)
	mux := http.NewServeMux()
	for _, prefix := range []string{"/in/", "/v1/", "/debug/pprof/"} {
		mux.Handle(prefix, counted)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	ui, err := portal.New(ctx, portal.Config{PublicURL: publicURL}, portal.Deps{
		Tokens: tokens, Links: links, Delivery: s.deliv, Contracts: s.contracts, Catalog: s.catalog,
		Publisher: pub, Ready: s.bus.Ready, Log: s.log, Sources: s.sources, Requests: requests,
		Readmitter: &ingress.Readmitter{Publisher: pub, Window: cfg.Ingress.DedupeWindow, Sources: s.sources},
		Traffic:    s.traffic, Tails: s.tails, Sinks: s.sinks, Views: s.views, CDC: s.cdc,
	})
	if err != nil {
		return err
	}
	ui.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))

	// Every wait on a client is bounded: headers by ReadHeaderTimeout, a body
	// on any route by bodyDeadline, an idle keep-alive by IdleTimeout, and
	// one address's share of the connections by the listener.
	s.http = &http.Server{
		Handler:           bodyDeadline(cfg.Server.BodyTimeout, problem.Routes(mux)),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.http.RegisterOnShutdown(s.tails.Close) // a live tail never ends by itself
	if err := s.showAdminToken(bootstrap); err != nil {
		return err
	}
	s.served = make(chan error, 1)
	s.limited = newClientLimitListener(s.listener, cfg.Server.MaxConnections, cfg.Server.MaxClientConnections, refused.Inc)
	go func() { s.served <- s.http.Serve(s.limited) }()
	s.log.Info("weir is serving",
		slog.String("addr", s.listener.Addr().String()),
		slog.String("bus", s.busDescription()),
		slog.Int("sources", len(sources)),
		slog.Int("subscriptions", len(cfg.Subscriptions)),
		slog.Int("contracts", len(s.contracts.List())))
	return nil
}

func (s *Server) openBus(ctx context.Context, window time.Duration) error {
	cfg := s.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	syncAlways, syncInterval, err := cfg.Bus.SyncSetting()
	if err != nil {
		return err
	}
	var creds bus.Credentials
	if cfg.Bus.Listen != "" {
		creds, err = s.busCredentials()
		if err != nil {
			return err
		}
		if cfg.Bus.ListenRemote {
			s.log.Warn("the embedded bus listens on an address other machines may reach (bus.listen_remote); its clients authenticate with a password sent without TLS",
				slog.String("bus.listen", cfg.Bus.Listen))
		}
	}
	host, _ := os.Hostname()
	s.bus, err = bus.Open(ctx, bus.Config{
		URL:          cfg.Bus.URL,
		CredsFile:    cfg.Bus.CredsFile,
		StoreDir:     filepath.Join(cfg.DataDir, "bus"),
		Listen:       cfg.Bus.Listen,
		Credentials:  creds,
		SyncAlways:   syncAlways,
		SyncInterval: syncInterval,
		Replicas:     cfg.Bus.Replicas,
		MaxAge:       cfg.Bus.MaxAge,
		DedupeWindow: window,
		MaxPayload:   cfg.Bus.MaxPayload,
		Name:         "weir-" + host,
	}, s.log)
	return err
}

// busCredentials are bus.user and bus.password, or the ones generated on
// first start and kept in the data directory.
func (s *Server) busCredentials() (bus.Credentials, error) {
	if s.cfg.Bus.User != "" {
		return bus.Credentials{User: s.cfg.Bus.User, Password: s.cfg.Bus.Password}, nil
	}
	creds, err := bus.LoadOrCreateCredentials(s.cfg.DataDir)
	if err != nil {
		return bus.Credentials{}, fmt.Errorf("bus credentials: %w", err)
	}
	return creds, nil
}

func (s *Server) registerBusMetrics() {
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "weir_bus_connected",
		Help: "1 when this node's connection to the bus is up.",
	}, func() float64 {
		if s.bus.Connected() {
			return 1
		}
		return 0
	}))
	s.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "weir_ingress_dedupe_record_errors_total",
		Help: "Accepted events whose de-duplication record could not be written.",
	}, func() float64 { return float64(s.bus.RememberErrors()) }))
}

// closeParts closes what Start opened, when it fails half-way.
func (s *Server) closeParts(ctx context.Context) {
	s.closeBelowHTTP(ctx, ctx)
	if s.listener != nil {
		_ = s.listener.Close()
	}
}

// Check reports the first thing in cfg that weir serve would refuse: what
// cfg.Validate checks, and what only the parts know (a source's verifier, a
// subscription's filter, a push URL the delivery policy denies, a contract's
// schema that is not a JSON Schema). weir serve
// calls it before it creates anything, so that the error names the file.
func Check(cfg *config.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	for _, name := range sortedKeys(cfg.Sources) {
		if _, err := ingress.NewSource(name, cfg.Sources[name]); err != nil {
			return err
		}
	}
	// Whether a schema is one can be known now; whether it is compatible
	// with the versions already registered only once the bus is open.
	for _, typ := range sortedKeys(cfg.Contracts) {
		raw, err := cfg.ReadFile(cfg.Contracts[typ].Schema)
		if err != nil {
			return fmt.Errorf("contracts.%s.schema: %w", typ, err)
		}
		if err := contract.CheckSchema(raw); err != nil {
			return fmt.Errorf("contracts.%s.schema: %w", typ, err)
		}
	}
	if err := delivery.CheckConfig(cfg.Delivery, cfg.Subscriptions); err != nil {
		return err
	}
	if err := sink.CheckConfig(sinkProviders(), cfg.Sinks); err != nil {
		return err
	}
	if err := cdc.CheckConfig(cdcReaders(), cfg.CDC); err != nil {
		return err
	}
	return view.CheckConfig(cfg.Views)
}

// cdcReaders are the kinds of database this weir can capture, registered
// explicitly: a reader factory is one more argument here. A cdc source of
// weir.yaml of another kind is refused by Check, naming its section.
func cdcReaders() *cdc.Registry {
	return cdc.NewRegistry(postgres.Factory{}, mysql.Factory{})
}

// sinkProviders are the kinds of sink this weir can run, registered
// explicitly: a provider is one more argument here. A sink of weir.yaml of
// another kind is refused by Check, naming its section.
func sinkProviders() *sink.Registry {
	return sink.NewRegistry(clickhouse.Provider{})
}

// tokens builds the token store from the configuration, or from the bootstrap
// admin token when the configuration declares none. A new bootstrap token is
// returned unsaved: Start saves and shows it once everything else started.
func (s *Server) tokens() (*token.Store, *token.Bootstrap, error) {
	if len(s.cfg.Tokens) > 0 {
		ts := make([]token.Token, 0, len(s.cfg.Tokens))
		admin := false
		for _, t := range s.cfg.Tokens {
			ts = append(ts, token.Token{Name: t.Name, Hash: token.Hash(t.Secret), Roles: t.Roles, Sources: t.Sources})
			admin = admin || slices.Contains(t.Roles, "admin")
		}
		s.warnDeclaredTokens(admin)
		return token.NewStore(ts), nil, nil
	}
	b, err := token.LoadBootstrap(s.cfg.DataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("admin token: %w", err)
	}
	return token.NewStore([]token.Token{b.Token}), b, nil
}

// warnDeclaredTokens says why a generated admin token stopped working once
// weir.yaml declares tokens, and how to get an admin token back.
func (s *Server) warnDeclaredTokens(admin bool) {
	path := token.BootstrapPath(s.cfg.DataDir)
	_, err := os.Stat(path)
	generated := err == nil
	switch {
	case generated && admin:
		s.log.Info("tokens are declared in weir.yaml, so the generated admin token is not used",
			slog.String("file", path))
	case generated:
		s.log.Warn("tokens are declared in weir.yaml, so the generated admin token is not used and no token has the admin role; "+
			"declare a token with roles: [admin] in weir.yaml, or remove tokens: to use the generated one again",
			slog.String("file", path))
	case !admin:
		s.log.Warn("no token declared in weir.yaml has the admin role, so nothing can manage weir through the API; " +
			"declare a token with roles: [admin], or remove tokens: to have weir generate an admin token")
	}
}

// showAdminToken saves a new bootstrap admin token and shows its secret,
// once: only when the node is about to serve, so that a start that fails
// does not use up the only time it is shown.
func (s *Server) showAdminToken(b *token.Bootstrap) error {
	if b == nil || b.Secret == "" {
		return nil
	}
	if err := b.Save(); err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	fmt.Fprintf(s.out, "\nweir created an admin token. It is shown only this once; keep it safe:\n\n    %s\n\n", b.Secret)
	s.log.Info("weir created an admin token and printed it on standard output",
		slog.String("file", token.BootstrapPath(s.cfg.DataDir)))
	return nil
}

func (s *Server) busDescription() string {
	if s.cfg.Bus.URL != "" {
		return s.bus.Conn().ConnectedUrlRedacted()
	}
	if s.cfg.Bus.Listen != "" {
		return "embedded, listening on " + s.bus.ClientURL()
	}
	return "embedded (in-process)"
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	if err := s.bus.Ready(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, `{"status":"unavailable","bus":%q}`+"\n", err.Error())
		return
	}
	_, _ = io.WriteString(w, `{"status":"ready","bus":"ok"}`+"\n")
}

// Addr is the HTTP listener's address (useful with port 0).
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Bus is the node's bus, for tests and tools built on the server.
func (s *Server) Bus() *bus.Bus { return s.bus }

// Stop drains the node: the listener closes, in-flight requests finish (each one
// either stored and answered, or not stored and answered 503), then the bus
// connection drains and the embedded server stops. If ctx ends first, remaining
// connections are closed hard.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	var err error
	if s.http != nil {
		err = s.http.Shutdown(ctx)
		if err != nil {
			_ = s.http.Close()
		}
		if serr := <-s.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		s.limited.wait()
	}
	// The parts behind the listener stop completely, even when ctx ended
	// while requests drained: the archive's last flush is not cut short.
	// The sinks are the exception: a store that is down would hold their
	// last batch for ever, so they get ctx itself, and what they hold when
	// it ends goes back to the bus (at-least-once).
	s.closeBelowHTTP(context.WithoutCancel(ctx), ctx)
	return err
}

// closeBelowHTTP stops, in the order doc.go gives, what runs behind the
// listener: the archive, the retention sweeper, delivery, the contract
// registry, then the bus. A part that was never built is skipped; one built
// and not started stops at once. The sinks stop within sinksCtx, every
// other part within ctx.
func (s *Server) closeBelowHTTP(ctx, sinksCtx context.Context) {
	for _, c := range s.components() {
		pctx := ctx
		if _, sinks := c.part.(*sink.Manager); sinks {
			pctx = sinksCtx
		}
		if err := c.part.Stop(pctx); err != nil {
			s.log.Warn("a part did not stop in time", slog.String("part", c.name), slog.Any("error", err))
		}
	}
	if s.bus != nil {
		s.bus.Close()
	}
}

// Run starts the node and stops it when ctx ends.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	s.log.Info("shutting down: finishing in-flight requests")
	stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	err := s.Stop(stopCtx)
	s.log.Info("weir stopped", slog.Any("error", err))
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

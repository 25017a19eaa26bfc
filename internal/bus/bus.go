package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"
)

// Names of the streams, buckets and subjects weir owns.
const (
	// EventsStream stores every accepted event, on subject events.<type>.
	EventsStream = "EVENTS"
	// EventsPrefix is the subject prefix of events: events.<type>.
	EventsPrefix = "events."
	// DirectPrefix is the subject prefix of events addressed to one subscription
	// (redrives and replays): direct.<subscription>.<type>. Only that
	// subscription's consumer reads them; the archive and tail do not.
	DirectPrefix = "direct."
	// DedupeBucket remembers senders' delivery ids for the de-duplication window.
	DedupeBucket = "weir-dedupe"
)

// StreamDuplicateWindow is the EVENTS stream's own de-duplication window. It
// makes publish-and-dedupe one atomic step for racing requests and for a retry
// after an ack that was lost; the long window lives in DedupeBucket. The server
// holds every message id of the window in memory (about 100 bytes each), so it
// is kept short: at 20,000 events/s, 30 s is 600,000 ids, some 60 MB.
const StreamDuplicateWindow = 30 * time.Second

// ErrUnavailable means the bus cannot take a publish right now; callers answer
// 503 with Retry-After and keep no de-duplication record.
var ErrUnavailable = errors.New("the event bus is unavailable")

// Unavailable marks err, a failed read or write of a bucket or stream, as
// ErrUnavailable, saying what was being done; nil stays nil. Callers use it
// where every failure is one a later retry may fix (no connection, no
// response, no quorum, timeout), so that the API answers 503, not 500.
func Unavailable(doing string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, doing, err)
}

// Config selects and tunes the bus.
type Config struct {
	// URL of an external NATS server or cluster; empty runs the embedded server.
	URL string
	// CredsFile authenticates to the external server.
	CredsFile string
	// StoreDir holds the embedded server's JetStream files.
	StoreDir string
	// Listen exposes the embedded server on host:port; empty keeps it in-process.
	Listen string
	// Credentials are required of every client of the embedded server when it
	// listens, weir's own in-process connection included.
	Credentials Credentials
	// SyncAlways makes the embedded server fsync every write before it acks.
	SyncAlways bool
	// SyncInterval is how often the embedded server fsyncs in the background
	// otherwise; zero is the NATS default (2 minutes).
	SyncInterval time.Duration
	// Replicas of weir's streams (external clusters only).
	Replicas int
	// MaxAge is the EVENTS stream's retention.
	MaxAge time.Duration
	// DedupeWindow is the longest de-duplication window of any source.
	DedupeWindow time.Duration
	// MaxPayload is the embedded server's largest message.
	MaxPayload int32
	// Name identifies this weir node to NATS.
	Name string
}

// Bus is a live connection to JetStream with weir's streams in place.
type Bus struct {
	cfg    Config
	log    *slog.Logger
	ns     *server.Server // nil when external
	nc     *nats.Conn
	js     jetstream.JetStream
	events jetstream.Stream
	keys   keyIndex
	closed atomic.Bool

	rememberErrors atomic.Int64
}

// Open starts the embedded server (or connects to the external one) and makes
// sure the EVENTS stream and the de-duplication bucket exist with cfg's settings.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Bus, error) {
	b := &Bus{cfg: cfg, log: log}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil && !b.closed.Load() {
				log.Warn("bus disconnected", slog.Any("error", err))
			}
		}),
		// Asynchronous errors (a subscription too slow for what it receives,
		// whose messages the client then drops; a permissions violation) are
		// otherwise silent.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("bus client error", slog.String("subject", subject), slog.Any("error", err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("bus reconnected", slog.String("url", nc.ConnectedUrlRedacted()))
		}),
	}
	if cfg.URL == "" {
		ns, err := startEmbedded(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		b.ns = ns
		opts = append(opts, nats.InProcessServer(ns))
		if cfg.Listen != "" {
			// An in-process client is authenticated like any other once the
			// server has a user.
			opts = append(opts, nats.UserInfo(cfg.Credentials.User, cfg.Credentials.Password))
		}
	} else if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		b.shutdownEmbedded()
		return nil, fmt.Errorf("connect to the bus: %w", err)
	}
	b.nc = nc
	b.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(16384),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			if strings.HasPrefix(m.Subject, dedupeSubjectPrefix) {
				b.rememberErrors.Add(1)
				log.Warn("de-duplication record not written", slog.Any("error", err))
			}
		}))
	if err != nil {
		b.Close()
		return nil, err
	}
	if err := b.ensureStreams(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func startEmbedded(ctx context.Context, cfg Config, log *slog.Logger) (*server.Server, error) {
	opts := &server.Options{
		ServerName: cfg.Name,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		DontListen: true,
		MaxPayload: cfg.MaxPayload,
		// The embedded server's own limits follow the machine; weir bounds its
		// streams itself.
		JetStreamMaxMemory: -1,
		JetStreamMaxStore:  -1,
		SyncAlways:         cfg.SyncAlways,
		SyncInterval:       cfg.SyncInterval,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("bus.listen: %w", err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("bus.listen: port %q: %w", port, err)
		}
		if p == 0 {
			// nats-server reads 0 as its default, 4222; weir reads it as "any free
			// port", like every other listener.
			p = server.RANDOM_PORT
		}
		if cfg.Credentials.User == "" || cfg.Credentials.Password == "" {
			return nil, errors.New("bus.listen: the exposed bus needs a user and password")
		}
		opts.DontListen = false
		opts.Host, opts.Port = host, p
		// The server keeps only a bcrypt hash of the password (it warns at
		// start about a plaintext one). The lowest cost: the password is
		// long and random (generated, or at least 16 characters), so the
		// hash's slowness adds nothing against guessing, while every client
		// connection pays it (the default cost stalled a connect handshake
		// under the race detector).
		hash, err := bcrypt.GenerateFromPassword([]byte(cfg.Credentials.Password), bcrypt.MinCost)
		if err != nil {
			return nil, fmt.Errorf("bus.password: %w", err)
		}
		opts.Username, opts.Password = cfg.Credentials.User, string(hash)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded bus: %w", err)
	}
	logger := &natsLogger{log: log.With(slog.String("component", "nats")), fatal: make(chan string, 1)}
	ns.SetLoggerV2(logger, false, false, false)
	go ns.Start()
	if err := waitReady(ctx, ns, logger.fatal); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		if cfg.Listen != "" && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("bus.listen %s: %w", cfg.Listen, err)
		}
		return nil, err
	}
	return ns, nil
}

// waitReady waits until ns accepts clients. nats-server reports a start it
// gives up on (a port in use, JetStream that cannot start) only through its
// logger's Fatalf, so that ends the wait too, as does ctx (Ctrl-C).
func waitReady(ctx context.Context, ns *server.Server, fatal <-chan string) error {
	for {
		if ns.ReadyForConnections(50 * time.Millisecond) {
			return nil
		}
		select {
		case msg := <-fatal:
			return fmt.Errorf("embedded bus did not start: %s", msg)
		case <-ctx.Done():
			return fmt.Errorf("embedded bus did not start: %w", ctx.Err())
		default:
		}
	}
}

func (b *Bus) ensureStreams(ctx context.Context) error {
	var err error
	b.events, err = b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        EventsStream,
		Description: "weir: every accepted event, on events.<type>; redrives and replays for one subscription on direct.<subscription>.<type>",
		Subjects:    []string{EventsPrefix + ">", DirectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      b.cfg.MaxAge,
		Duplicates:  StreamDuplicateWindow,
		Replicas:    b.cfg.Replicas,
		AllowDirect: true,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", EventsStream, err)
	}
	window := b.cfg.DedupeWindow
	if window < StreamDuplicateWindow {
		window = StreamDuplicateWindow
	}
	if b.soleWriter() {
		return b.openDiskKeys(ctx, window)
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      DedupeBucket,
		Description: "weir: senders' delivery ids seen within the de-duplication window",
		TTL:         window,
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", DedupeBucket, err)
	}
	b.keys = bucketKeys{js: b.js, kv: kv}
	return nil
}

// soleWriter is true when no other process can reach the bus: the embedded
// server without bus.listen. Delivery keys then live in a local store (see
// diskKeys) instead of a bucket other nodes could share.
func (b *Bus) soleWriter() bool { return b.ns != nil && b.cfg.Listen == "" }

// DedupeDir is where the local de-duplication store lives, under StoreDir.
const DedupeDir = "dedupe"

// openDiskKeys opens the local store. Keys a previous version kept in the
// bucket are copied over once and the bucket is deleted, which frees the
// memory its index held.
func (b *Bus) openDiskKeys(ctx context.Context, window time.Duration) error {
	d, err := openDiskKeys(filepath.Join(b.cfg.StoreDir, DedupeDir), window, b.log)
	if err != nil {
		return err
	}
	b.keys = d
	kv, err := b.js.KeyValue(ctx, DedupeBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", DedupeBucket, err)
	}
	n, err := d.importBucket(ctx, kv)
	if err != nil {
		return fmt.Errorf("copy bucket %s to the local store: %w", DedupeBucket, err)
	}
	if err := b.js.DeleteKeyValue(ctx, DedupeBucket); err != nil {
		return fmt.Errorf("delete bucket %s after copying it: %w", DedupeBucket, err)
	}
	b.log.Info("de-duplication keys moved from the bucket to the local store", slog.Int("keys", n))
	return nil
}

// JetStream gives the packages above the bus (delivery, tail) the JetStream API.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Conn is the underlying NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// Events is the EVENTS stream.
func (b *Bus) Events() jetstream.Stream { return b.events }

// Connected reports whether the connection to the bus is up; when it is not,
// publishes fail fast instead of waiting for a timeout.
func (b *Bus) Connected() bool { return b.nc != nil && b.nc.IsConnected() }

// ClientURL is the URL NATS clients reach the bus at: the external URL, or the
// embedded server's listener ("" when it is in-process only).
func (b *Bus) ClientURL() string {
	if b.ns == nil {
		return b.cfg.URL
	}
	if b.cfg.Listen == "" {
		return ""
	}
	return b.ns.ClientURL()
}

// Embedded is the in-process server, or nil on an external bus.
func (b *Bus) Embedded() *server.Server { return b.ns }

// Ready checks that JetStream answers, for /readyz.
func (b *Bus) Ready(ctx context.Context) error {
	if !b.Connected() {
		return ErrUnavailable
	}
	_, err := b.js.AccountInfo(ctx)
	return err
}

// Close drains the connection (pending acks arrive first) and stops the embedded
// server.
func (b *Bus) Close() {
	if !b.closed.CompareAndSwap(false, true) {
		return
	}
	if b.nc != nil {
		done := make(chan struct{})
		b.nc.SetClosedHandler(func(*nats.Conn) { close(done) })
		if err := b.nc.Drain(); err != nil {
			b.nc.Close()
		} else {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				b.nc.Close()
			}
		}
	}
	if b.keys != nil {
		if err := b.keys.close(); err != nil {
			b.log.Warn("closing the de-duplication store", slog.Any("error", err))
		}
	}
	b.shutdownEmbedded()
}

func (b *Bus) shutdownEmbedded() {
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
	}
}

package clickhouse

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weir-dev/weir/internal/sink"
)

// ErrStopped means Start was called on a sink that was already stopped.
var ErrStopped = errors.New("clickhouse sink: stopped; build a new sink to start again")

// ErrNotStarted means Write was called before a Start succeeded.
var ErrNotStarted = errors.New("clickhouse sink: not started")

// Connection bounds. One Write uses one connection at a time (its tables are
// written one after the other), and Start's DDL one more; the pool is kept
// small because a sink is one of many consumers of the same server.
const (
	dialTimeout  = 5 * time.Second
	readTimeout  = 60 * time.Second
	maxOpenConns = 2
)

// Sink writes batches of events into ClickHouse: every event into the events
// table, and the events of a per-type table's type into that table too.
type Sink struct {
	name     string
	observer sink.Observer
	addr     string
	database string
	events   string
	user     string
	password string
	batching sink.Batching
	tables   []*typedTable
	byType   map[string][]*typedTable
	// twins are the views whose copies the sink keeps (see twin.go).
	twins []*twin
	log   *slog.Logger
	// logged is set once the twins were logged, at the first Start that
	// succeeded.
	logged bool

	mu      sync.Mutex
	conn    driver.Conn
	stopped bool

	// stale asks the next Write to check the tables again: the server said
	// that a table or column is missing (dropped behind weir's back).
	stale atomic.Bool
	// rows is the events table's column buffers, reused by each Write (the
	// Runner calls Write from one goroutine at a time).
	rows eventRows
}

var _ sink.Sink = (*Sink)(nil)

// Batching is the spec's batch bounds, 10000 rows and 1 s by default.
func (s *Sink) Batching() sink.Batching { return s.batching }

// Start connects and creates or migrates the sink's tables. A connection
// error or timeout is returned as is, for the Runner to try again; a change
// of the tables that weir refuses to make is a *MigrationError (errors.As),
// which a retry does not fix until someone changes the config or the table.
func (s *Sink) Start(ctx context.Context) error {
	conn, err := s.open()
	if err != nil {
		return err
	}
	// The lock is not held while talking to the server, so that Stop can
	// close the connection under a Start that waits for it.
	if err := conn.Ping(ctx); err != nil {
		return err
	}
	if err := s.ensureSchema(ctx, conn); err != nil {
		return err
	}
	s.stale.Store(false)
	s.logTwins(ctx)
	return nil
}

// logTwins says, once, which views the sink keeps twins of.
func (s *Sink) logTwins(ctx context.Context) {
	s.mu.Lock()
	done := s.logged
	s.logged = true
	s.mu.Unlock()
	if done || len(s.twins) == 0 {
		return
	}
	names := make([]string, len(s.twins))
	for i, t := range s.twins {
		names[i] = t.spec.Name
	}
	s.log.InfoContext(ctx, "the sink keeps the ClickHouse twins of views", slog.String("database", s.database), slog.Any("views", names))
}

// open returns the connection pool, opening it on the first Start. The pool
// dials lazily and again after the server comes back.
func (s *Sink) open() (driver.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, ErrStopped
	}
	if s.conn == nil {
		conn, err := ch.Open(&ch.Options{
			Addr: []string{s.addr},
			// No database: it may not exist yet; every statement names it.
			Auth:         ch.Auth{Username: s.user, Password: s.password},
			DialTimeout:  dialTimeout,
			ReadTimeout:  readTimeout,
			MaxOpenConns: maxOpenConns,
			MaxIdleConns: maxOpenConns,
		})
		if err != nil {
			return nil, err
		}
		s.conn = conn
	}
	return s.conn, nil
}

// Stop closes the connections. Stopping twice, or before Start, is safe.
func (s *Sink) Stop(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// connection is the open connection, or ErrNotStarted.
func (s *Sink) connection() (driver.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil, ErrNotStarted
	}
	return s.conn, nil
}

// defaulted counts one value stored as its column's default.
func (s *Sink) defaulted(table, column string) {
	if s.observer != nil {
		s.observer.Defaulted(s.name, table, column)
	}
}

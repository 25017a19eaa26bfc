package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/lifecycle"
)

// Connector is the Debezium source.connector of MySQL and MariaDB changes.
const Connector = "mysql"

// Position is a place in a MariaDB binlog: the GTID set of every
// transaction up to it (domain-server-seq, comma-separated by domain) and
// the file and offset of the next event. It is a Change's Position and what
// the KV bucket keeps under "<name>.position".
type Position struct {
	GTID string `json:"gtid"`
	File string `json:"file,omitempty"`
	Pos  uint32 `json:"pos,omitempty"`
	// TsMs is the commit time of the transaction that ends here.
	TsMs int64 `json:"ts_ms,omitempty"`
}

// String is the position as Status shows it.
func (p *Position) String() string {
	if p == nil {
		return ""
	}
	if p.File == "" {
		return p.GTID
	}
	return fmt.Sprintf("%s (%s:%d)", p.GTID, p.File, p.Pos)
}

// Reader follows a MariaDB server's row-based binlog and hands each captured
// row change to its Emitter (cdc.Reader).
type Reader struct {
	name      string
	tablesTag string // cdc.TablesTag of the captured tables
	spec      *config.MySQLCDC
	emitter   cdc.Emitter
	kv        jetstream.KeyValue
	log       *slog.Logger
	dec       decoder
	db        *sql.DB

	mu        sync.Mutex
	state     string
	confirmed *Position
	caughtUp  bool // every change read so far is confirmed
	lastErr   string
	lastErrAt time.Time
	progress  []cdc.TableProgress
	snap      *snapshotState // confirmed snapshot progress
	snapDirty bool
	life      lifecycle.Once

	save chan struct{} // wakes the saver: a newer confirmed position waits
	// Streaming state, owned by the reading goroutine.
	readPos *Position
	catalog map[string]*table // db.table -> columns as information_schema gave them last; nil: no such table
	defs    map[string]*table // db.table -> columns the last rows were decoded with
	shapes  map[string]*cdc.Table
	maps    map[uint64]*tableMap
}

var _ cdc.Reader = (*Reader)(nil)

// New builds a reader of the cdc source name (spec.MySQL must be set) that
// keeps its position in kv and hands changes to emitter. It connects to
// nothing until Start.
func New(name string, spec *config.CDC, emitter cdc.Emitter, kv jetstream.KeyValue, log *slog.Logger) (*Reader, error) {
	if spec == nil || spec.MySQL == nil {
		return nil, errors.New("mysql: the cdc source has no mysql section")
	}
	if _, err := driver.ParseDSN(spec.MySQL.DSN); err != nil {
		return nil, fmt.Errorf("mysql: dsn: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reader{
		name: name, spec: spec.MySQL, emitter: emitter, kv: kv,
		tablesTag: cdc.TablesTag(spec.MySQL.Tables),
		log:       log.With("cdc", name, "connector", Connector),
		dec:       decoder{numericNumber: spec.Numeric == "number"},
		state:     "starting",
		save:      make(chan struct{}, 1),
		catalog:   map[string]*table{},
		defs:      map[string]*table{},
		shapes:    map[string]*cdc.Table{},
	}, nil
}

func (r *Reader) positionKey() string { return r.name + ".position" }
func (r *Reader) snapshotKey() string { return r.name + ".snapshot" }

// Start loads the saved position, checks the server's binlog settings and
// starts reading in the background (snapshot first when none is saved and
// the spec asks for one). It returns an error when the server cannot be
// reached or is not set up for row-based capture.
func (r *Reader) Start(ctx context.Context) error {
	return r.life.Start(ctx, errStarted, func(bg context.Context) (func(), error) {
		db, err := sql.Open("mysql", r.spec.DSN)
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(4)
		if err := checkServer(ctx, db); err != nil {
			db.Close()
			return nil, err
		}
		r.checkRowMetadata(ctx, db)
		saved, err := r.loadPosition(ctx)
		if err != nil {
			db.Close()
			return nil, err
		}
		r.mu.Lock()
		r.db = db
		r.confirmed, r.caughtUp = saved, true
		r.mu.Unlock()
		return func() {
			var wg sync.WaitGroup
			wg.Go(func() { r.saver(bg) })
			wg.Go(func() { r.run(bg, saved) })
			wg.Wait()
			db.Close()
		}, nil
	})
}

// errStarted means Start came twice, or after Stop.
var errStarted = errors.New("mysql: reader already started")

// Stop ends reading and waits for it; positions confirmed before are saved.
// Stopping twice, or before Start, is safe.
func (r *Reader) Stop(ctx context.Context) error { return r.life.Stop(ctx) }

// Confirm records that every change up to pos is on the bus; the saver
// writes the newest such position to the KV bucket.
func (r *Reader) Confirm(pos any) {
	switch p := pos.(type) {
	case *Position:
		r.mu.Lock()
		r.confirmed = p
		r.caughtUp = r.readPos == p
		r.mu.Unlock()
	case *snapshotMark:
		r.confirmSnapshot(p)
	default:
		return
	}
	select {
	case r.save <- struct{}{}:
	default:
	}
}

// Status is the reader's state, confirmed position and lag.
func (r *Reader) Status(ctx context.Context) cdc.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := cdc.Status{Connector: Connector, State: r.state, RetainedBytes: -1,
		LastError: r.lastErr, LastErrorAt: r.lastErrAt}
	if r.confirmed != nil {
		s.Position = r.confirmed.String()
		if !r.caughtUp && r.confirmed.TsMs > 0 {
			s.LagSeconds = max(0, time.Since(time.UnixMilli(r.confirmed.TsMs)).Seconds())
		}
	}
	s.Snapshot = append(s.Snapshot, r.progress...)
	return s
}

// Drop deletes the saved position and snapshot progress, so that a source
// removed from weir.yaml leaves nothing behind (MariaDB keeps no replica
// state of its own for weir). Call it on a stopped reader.
func (r *Reader) Drop(ctx context.Context) (removed []string, err error) {
	for _, k := range []string{r.positionKey(), r.snapshotKey()} {
		if err := r.kv.Purge(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return removed, fmt.Errorf("mysql: drop %s: %w", k, err)
		}
		removed = append(removed, "saved "+k)
	}
	return removed, nil
}

// Factory builds MariaDB readers for the cdc registry.
type Factory struct{}

// Kind is "mysql".
func (Factory) Kind() string { return "mysql" }

// New builds a reader (see New).
func (Factory) New(name string, spec *config.CDC, deps cdc.Deps) (cdc.Reader, error) {
	return New(name, spec, deps.Emitter, deps.KV, deps.Log)
}

var (
	_ cdc.ReaderFactory = Factory{}
	_ cdc.Dropper       = (*Reader)(nil)
)

func (r *Reader) loadPosition(ctx context.Context) (*Position, error) {
	e, err := r.kv.Get(ctx, r.positionKey())
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mysql: read saved position: %w", err)
	}
	var p Position
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		return nil, fmt.Errorf("mysql: saved position %q: %w", e.Value(), err)
	}
	return &p, nil
}

// saver writes the newest confirmed position (and snapshot progress) each
// time Confirm wakes it, so that many confirmations cost one write.
func (r *Reader) saver(ctx context.Context) {
	var last *Position
	for {
		select {
		case <-ctx.Done():
			// the last confirmations before a stop are still written
			r.flush(context.Background(), &last)
			return
		case <-r.save:
			r.flush(ctx, &last)
		}
	}
}

func (r *Reader) flush(ctx context.Context, last **Position) {
	r.flushSnapshot(ctx)
	r.mu.Lock()
	p := r.confirmed
	r.mu.Unlock()
	if p == nil || p == *last {
		return
	}
	b, _ := json.Marshal(p)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := r.kv.Put(ctx, r.positionKey(), b); err != nil {
		r.fail(ctx, fmt.Errorf("save position: %w", err))
		return
	}
	*last = p
}

func (r *Reader) fail(ctx context.Context, err error) {
	r.log.ErrorContext(ctx, "cdc reader", "err", err)
	r.mu.Lock()
	r.lastErr, r.lastErrAt = err.Error(), time.Now()
	r.mu.Unlock()
}

func (r *Reader) setState(s string) {
	r.mu.Lock()
	r.state = s
	r.mu.Unlock()
}

// checkVersion refuses a server that is not MariaDB: MySQL's binlog (its
// GTID events and dump command, binary JSON) is another dialect.
func checkVersion(version string) error {
	if !strings.Contains(strings.ToLower(version), "mariadb") {
		return fmt.Errorf("mysql: the server is MySQL %s, not MariaDB: weir reads MariaDB's binlog only (docs/cdc.md)", version)
	}
	return nil
}

// checkServer refuses a server whose binlog cannot feed row changes.
func checkServer(ctx context.Context, db *sql.DB) error {
	var logBin int
	var version, format, image string
	if err := db.QueryRowContext(ctx, "SELECT VERSION(), @@log_bin, @@binlog_format, @@binlog_row_image").Scan(&version, &logBin, &format, &image); err != nil {
		return fmt.Errorf("mysql: connect: %w", err)
	}
	if err := checkVersion(version); err != nil {
		return err
	}
	if logBin != 1 {
		return errors.New("mysql: the server has no binlog: start it with log_bin")
	}
	if format != "ROW" {
		return fmt.Errorf("mysql: binlog_format is %s: set binlog_format=ROW", format)
	}
	if image != "FULL" {
		return fmt.Errorf("mysql: binlog_row_image is %s: set binlog_row_image=FULL", image)
	}
	return nil
}

// checkRowMetadata warns when the binlog's TABLE_MAP events do not name
// their columns: rows written before an ALTER TABLE and read after it are
// then named after the table's current columns, which may be other ones.
func (r *Reader) checkRowMetadata(ctx context.Context, db *sql.DB) {
	var meta string
	err := db.QueryRowContext(ctx, "SELECT @@global.binlog_row_metadata").Scan(&meta)
	if err != nil {
		// MariaDB before 10.5 (and MySQL before 8.0.1) has no such setting
		meta = "not supported by this server"
	}
	if !strings.EqualFold(meta, "FULL") {
		r.log.WarnContext(ctx, "binlog_row_metadata is not FULL: rows written before an ALTER TABLE that weir reads after it are named after the table's current columns; set binlog_row_metadata=FULL (MariaDB 10.5 and later)",
			slog.String("binlog_row_metadata", meta))
	}
}

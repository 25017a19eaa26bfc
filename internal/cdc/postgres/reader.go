// Package postgres is weir's PostgreSQL change-data-capture reader: it
// follows a pgoutput logical replication slot, turns every row change of the
// configured tables into a cdc.Change with the Debezium value, reads the
// tables first in the slot's exported snapshot (snapshot: initial), and
// moves the slot on only to what the Emitter confirmed.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/lifecycle"
)

// Connector is the Debezium connector name in source.connector.
const Connector = "postgresql"

// Kind is the factory's kind: the cdc source's postgres section.
const Kind = "postgres"

// Factory builds PostgreSQL readers.
type Factory struct{}

// Kind is "postgres".
func (Factory) Kind() string { return Kind }

// New builds a reader (see New).
func (Factory) New(name string, spec *config.CDC, deps cdc.Deps) (cdc.Reader, error) {
	return New(name, spec, deps.Emitter, deps.KV, deps.Log)
}

var (
	_ cdc.ReaderFactory = Factory{}
	_ cdc.Dropper       = (*Reader)(nil)
	_ cdc.Backfiller    = (*Reader)(nil)
)

// Reader follows one PostgreSQL database's slot. It implements cdc.Reader.
type Reader struct {
	name        string
	spec        *config.CDC
	pg          *config.PostgresCDC
	emitter     cdc.Emitter
	kv          jetstream.KeyValue
	log         *slog.Logger
	slot        string
	tablesTag   string // cdc.TablesTag of the captured tables
	publication string
	tableNames  []string // schema.table, sorted
	exclude     map[string]map[string]bool
	heartbeat   time.Duration
	dec         *decoder

	confirmed     atomic.Uint64 // the highest LSN Confirm was given
	snapConfirmed atomic.Int64  // the highest snapshot row sequence Confirm was given
	confirmSignal chan struct{}

	mu          sync.Mutex
	state       string
	lastErr     string
	lastErrAt   time.Time
	progress    []cdc.TableProgress
	pending     []txTime // emitted transactions not yet confirmed, oldest first
	db          *pgxpool.Pool
	dbName      string
	cancel      context.CancelFunc
	done        chan struct{}
	started     bool
	runCtx      context.Context // ends with Stop; backfills run under it
	backfills   sync.WaitGroup
	backfilling bool
	watch       sync.WaitGroup // watchRetained
	snapSeq     atomic.Int64   // the last snapshot or backfill row's sequence
	emitMu      sync.Mutex     // held by the stream through a transaction, by a snapshot or backfill through a chunk
}

// txTime is an emitted transaction's end LSN and commit time, for the lag.
type txTime struct {
	end    pglogrepl.LSN
	commit time.Time
}

// New builds a reader for the cdc source name. spec.Postgres must be set
// (and validated by the config); kv keeps snapshot progress.
func New(name string, spec *config.CDC, emitter cdc.Emitter, kv jetstream.KeyValue, log *slog.Logger) (*Reader, error) {
	if spec == nil || spec.Postgres == nil {
		return nil, errors.New("postgres: the cdc source has no postgres section")
	}
	if emitter == nil {
		return nil, errors.New("postgres: no emitter")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pg := spec.Postgres
	r := &Reader{
		name: name, spec: spec, pg: pg, emitter: emitter, kv: kv,
		log:           log.With("cdc", name, "connector", Connector),
		slot:          pg.Slot,
		tablesTag:     cdc.TablesTag(pg.Tables),
		publication:   pg.Publication,
		exclude:       map[string]map[string]bool{},
		heartbeat:     pg.Heartbeat.D(),
		dec:           newDecoder(spec.Numeric == "number"),
		state:         "starting",
		confirmSignal: make(chan struct{}, 1),
	}
	if r.slot == "" {
		r.slot = "weir_" + name
	}
	if r.publication == "" {
		r.publication = "weir_" + name
	}
	if r.heartbeat <= 0 {
		r.heartbeat = 10 * time.Second
	}
	for t, tc := range pg.Tables {
		s, n := splitTable(t)
		q := s + "." + n
		r.tableNames = append(r.tableNames, q)
		ex := map[string]bool{}
		if tc != nil {
			for _, c := range tc.Columns.Exclude {
				ex[c] = true
			}
		}
		r.exclude[q] = ex
	}
	slices.Sort(r.tableNames)
	if len(r.tableNames) == 0 {
		return nil, errors.New("postgres: no tables")
	}
	return r, nil
}

// Start connects, creates the publication and the slot when missing and
// starts reading: the snapshot first when the slot is new (snapshot:
// initial) or a snapshot was cut short, then the stream. It returns once
// reading runs, or the error that keeps it from running (a *PrivilegeError
// names the privilege lacking).
func (r *Reader) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("postgres: reader already started")
	}
	r.started = true
	r.mu.Unlock()

	db, err := pgxpool.New(ctx, r.pg.DSN)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	conn, err := db.Acquire(ctx)
	if err != nil {
		db.Close()
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Release()
	fail := func(err error) error {
		r.setError(err)
		conn.Release()
		db.Close()
		return err
	}
	if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&r.dbName); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	var level string
	if err := conn.QueryRow(ctx, `SHOW wal_level`).Scan(&level); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	if level != "logical" {
		return fail(fmt.Errorf("postgres: wal_level is %q; logical replication needs wal_level = logical (ALTER SYSTEM SET wal_level = logical, then restart the server)", level))
	}
	if err := r.checkExcludedKeys(ctx, db); err != nil {
		return fail(err)
	}
	created, err := r.ensurePublication(ctx, conn.Conn())
	if err != nil {
		return fail(err)
	}
	if created {
		r.putKV(ctx, "publication", []byte("created"))
	}
	if err := r.ensureDDL(ctx, conn.Conn()); err != nil {
		return fail(err)
	}
	slot, err := r.readSlot(ctx, conn.Conn())
	if err != nil {
		return fail(err)
	}
	if slot.exists && (slot.plugin != "pgoutput" || slot.database != r.dbName) {
		return fail(fmt.Errorf("postgres: slot %q exists for plugin %q on database %q, not pgoutput on %q", r.slot, slot.plugin, slot.database, r.dbName))
	}
	repl, err := r.connectReplication(ctx)
	if err != nil {
		return fail(err)
	}
	snap := snapshotPlan{}
	if !slot.exists {
		export := r.pg.Snapshot != "never"
		if export {
			// Saved before the slot exists: a crash between the two
			// leaves a pending snapshot, never a lost one.
			if err := r.saveSnapshot(ctx, &snapshotState{Pending: true}); err != nil {
				_ = repl.Close(ctx)
				return fail(err)
			}
		}
		res, err := r.createSlot(ctx, repl, export)
		if err != nil {
			_ = repl.Close(ctx)
			return fail(err)
		}
		r.log.Info("created replication slot", "slot", r.slot, "consistent_point", res.ConsistentPoint)
		snap.name = res.SnapshotName
	}
	st, err := r.loadSnapshot(ctx)
	if err != nil {
		_ = repl.Close(ctx)
		return fail(err)
	}
	if st != nil && !st.Done {
		snap.state = st
	}
	conn.Release()
	runCtx, cancel := context.WithCancel(context.Background())
	r.mu.Lock()
	r.db, r.cancel, r.done, r.runCtx = db, cancel, make(chan struct{}), runCtx
	r.mu.Unlock()
	go r.run(runCtx, repl, snap)
	r.watch.Add(1)
	go func() { defer r.watch.Done(); r.watchRetained(runCtx, db) }()
	return nil
}

// checkExcludedKeys refuses a columns.exclude that names a primary-key
// column (a *cdc.ExcludedKeyError): only the database knows the keys, so
// the configuration cannot check it. A table that does not exist is left
// to the publication's check.
func (r *Reader) checkExcludedKeys(ctx context.Context, db *pgxpool.Pool) error {
	for _, t := range r.tableNames {
		if len(r.exclude[t]) == 0 {
			continue
		}
		schema, name := splitTable(t)
		_, names, cat, err := loadCatalog(ctx, db, schema, name)
		if errors.Is(err, ErrNoTable) {
			continue
		}
		if err != nil {
			return fmt.Errorf("postgres: catalog of %s: %w", t, err)
		}
		for _, n := range names {
			if cat[n].keyPos > 0 && r.exclude[t][n] {
				return &cdc.ExcludedKeyError{Table: t, Column: n}
			}
		}
	}
	return nil
}

// connectReplication opens a replication=database connection.
func (r *Reader) connectReplication(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(r.pg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: dsn: %w", err)
	}
	cfg.RuntimeParams["replication"] = "database"
	cfg.RuntimeParams["DateStyle"] = "ISO"
	cfg.RuntimeParams["TimeZone"] = "UTC"
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: replication connection: %w", err)
	}
	return c, nil
}

// Stop ends reading and waits for it. Stopping twice, or before Start, is
// harmless.
func (r *Reader) Stop(ctx context.Context) error {
	r.mu.Lock()
	cancel, done, db := r.cancel, r.done, r.db
	r.cancel = nil
	r.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.backfills.Wait()
	r.watch.Wait()
	db.Close()
	return nil
}

// Confirm records that every change up to the one that carried pos is on the
// bus. The slot's confirmed position follows at the next status update
// (within a second).
func (r *Reader) Confirm(pos any) {
	switch p := pos.(type) {
	case pglogrepl.LSN:
		for {
			old := r.confirmed.Load()
			if uint64(p) <= old || r.confirmed.CompareAndSwap(old, uint64(p)) {
				break
			}
		}
	case snapshotPos:
		for {
			old := r.snapConfirmed.Load()
			if int64(p) <= old || r.snapConfirmed.CompareAndSwap(old, int64(p)) {
				break
			}
		}
	default:
		return
	}
	select {
	case r.confirmSignal <- struct{}{}:
	default:
	}
}

// Status is the reader's position, lag, retained WAL and snapshot progress.
func (r *Reader) Status(ctx context.Context) cdc.Status {
	confirmed := pglogrepl.LSN(r.confirmed.Load())
	r.mu.Lock()
	s := cdc.Status{Connector: Connector, State: r.state, Position: confirmed.String(), LastError: r.lastErr, LastErrorAt: r.lastErrAt, RetainedBytes: -1}
	s.Snapshot = slices.Clone(r.progress)
	r.dropConfirmedLocked(confirmed)
	if len(r.pending) > 0 {
		s.LagSeconds = time.Since(r.pending[0].commit).Seconds()
	}
	db := r.db
	r.mu.Unlock()
	if db != nil {
		if n, ok := r.retainedBytes(ctx, db); ok {
			s.RetainedBytes = n
			s.RetainedOverMax = n > r.maxRetained()
		}
	}
	s.MaxRetainedBytes = r.maxRetained()
	return s
}

func (r *Reader) dropConfirmedLocked(confirmed pglogrepl.LSN) {
	i := 0
	for i < len(r.pending) && r.pending[i].end <= confirmed {
		i++
	}
	r.pending = r.pending[i:]
}

func (r *Reader) setState(s string) {
	r.mu.Lock()
	r.state = s
	r.mu.Unlock()
}

func (r *Reader) setError(err error) {
	r.mu.Lock()
	r.lastErr, r.lastErrAt = err.Error(), time.Now()
	r.mu.Unlock()
}

// slotReleaseWait is how long Drop waits for a stopped reader's walsender
// to let the slot go.
const slotReleaseWait = 10 * time.Second

// Drop removes the slot (so that it pins no WAL), the DDL event triggers
// and their function when they are there (ddl: trigger), and the
// publication when weir created it, and forgets the snapshot progress. The
// reader must be stopped; a slot still in use after slotReleaseWait (another
// client reading it) is an error.
func (r *Reader) Drop(ctx context.Context) (removed []string, err error) {
	conn, err := pgx.Connect(ctx, r.pg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	// The walsender of a reader that has just stopped leaves moments after
	// its connection closed; until then the slot is in use (55006).
	inUse := time.Now().Add(slotReleaseWait)
	for {
		_, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, r.slot)
		var pgErr *pgconn.PgError
		if err == nil {
			break
		}
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" || time.Now().After(inUse) || !lifecycle.Sleep(ctx, 100*time.Millisecond) {
			return nil, fmt.Errorf("postgres: drop slot %s: %w", r.slot, err)
		}
	}
	removed = append(removed, "replication slot "+r.slot)
	ddl, err := r.removeDDL(ctx, conn)
	if err != nil {
		return removed, err
	}
	removed = append(removed, ddl...)
	if v, _ := r.getKV(ctx, "publication"); string(v) == "created" {
		if _, err := conn.Exec(ctx, "DROP PUBLICATION IF EXISTS "+quoteIdent(r.publication)); err != nil {
			return removed, fmt.Errorf("postgres: drop publication %s: %w", r.publication, err)
		}
		removed = append(removed, "publication "+r.publication)
	}
	r.deleteKV(ctx, "publication")
	r.deleteKV(ctx, "snapshot")
	return append(removed, "saved snapshot progress"), nil
}

// kvKey is the key of one of the reader's entries in the KV bucket.
func (r *Reader) kvKey(what string) string { return "postgres." + r.slot + "." + what }

func (r *Reader) putKV(ctx context.Context, what string, v []byte) error {
	if r.kv == nil {
		return nil
	}
	_, err := r.kv.Put(ctx, r.kvKey(what), v)
	return err
}

func (r *Reader) getKV(ctx context.Context, what string) ([]byte, error) {
	if r.kv == nil {
		return nil, nil
	}
	e, err := r.kv.Get(ctx, r.kvKey(what))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.Value(), nil
}

func (r *Reader) deleteKV(ctx context.Context, what string) {
	if r.kv != nil {
		_ = r.kv.Delete(ctx, r.kvKey(what))
	}
}

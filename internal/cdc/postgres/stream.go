package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/lifecycle"
)

// statusEvery is how often the reader tells the server the confirmed
// position when it has moved; standbyEvery when it has not.
const (
	statusEvery  = time.Second
	standbyEvery = 10 * time.Second
)

// run reads the snapshot if one is due, then streams, reconnecting with
// backoff after a failure, until ctx ends.
func (r *Reader) run(ctx context.Context, repl *pgconn.PgConn, snap snapshotPlan) {
	defer close(r.done)
	if snap.name != "" || snap.state != nil {
		r.setState("snapshot")
		for {
			err := r.snapshot(ctx, snap)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				_ = repl.Close(context.Background())
				return
			}
			r.fail(err)
			// The exported snapshot ended with the error: go on with fresh
			// reads from the saved progress.
			snap.name = ""
			st, lerr := r.loadSnapshot(ctx)
			if lerr == nil && st != nil {
				snap.state = st
			}
			if !lifecycle.Sleep(ctx, 2*time.Second) {
				_ = repl.Close(context.Background())
				return
			}
		}
	}
	backoff := 100 * time.Millisecond
	s := &streamer{r: r, rels: map[uint32]*relation{}, shapes: map[string]*cdc.Table{}}
	for {
		if repl == nil {
			c, err := r.connectReplication(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				r.fail(err)
				if !lifecycle.Sleep(ctx, backoff) {
					return
				}
				backoff = min(backoff*2, 30*time.Second)
				continue
			}
			repl = c
		}
		r.setState("streaming")
		start := time.Now()
		err := s.stream(ctx, repl)
		_ = repl.Close(context.Background())
		repl = nil
		if ctx.Err() != nil {
			return
		}
		r.fail(err)
		if time.Since(start) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		if !lifecycle.Sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (r *Reader) fail(err error) {
	r.log.Warn("postgres cdc failed; retrying", "err", err)
	r.setError(err)
	r.setState("failing")
}

// streamer is the state of the stream across reconnections.
type streamer struct {
	r      *Reader
	rels   map[uint32]*relation
	shapes map[string]*cdc.Table // the shape last told to the emitter, per table

	// lastEnd is the end LSN of the last transaction handed on whole;
	// lastWithChanges that of the last one that carried changes.
	lastEnd, lastWithChanges pglogrepl.LSN
	// status sends the standby status updates of the current connection;
	// busy is when the message being handled began (Unix ns), 0 between
	// messages, for status's keeper.
	status *statusWriter
	busy   atomic.Int64
	// askedAt is when the reader last asked the server for a keepalive.
	askedAt time.Time
	// walEnd is the server's sent position from its last keepalive.
	walEnd   pglogrepl.LSN
	lastData time.Time

	inTx    bool
	skipTx  bool
	txXid   uint32
	txLSN   pglogrepl.LSN
	txIDPre string // "<slot>:<commit lsn>:", the start of the transaction's change ids
	txName  string // the transaction's Tx (cdc.Change.Tx)
	txTime  time.Time
	txIndex int
	held    *cdc.Change // the transaction's latest change, emitted once the next one (or the commit) comes
	anyInTx bool
	locked  bool // emitMu is held for the open transaction
}

// stream starts replication from the slot's confirmed position and hands
// on changes until an error or ctx's end.
func (s *streamer) stream(ctx context.Context, conn *pgconn.PgConn) error {
	r := s.r
	s.inTx, s.held = false, nil
	defer func() {
		if s.locked {
			r.emitMu.Unlock()
			s.locked = false
		}
	}()
	args := []string{"proto_version '1'", "publication_names " + quoteLiteral(r.publication)}
	if r.pg.DDL == config.DDLTrigger {
		args = append(args, "messages 'true'") // the DDL reports (PostgreSQL 14+)
	}
	err := pglogrepl.StartReplication(ctx, conn, r.slot, 0, pglogrepl.StartReplicationOptions{
		Mode:       pglogrepl.LogicalReplication,
		PluginArgs: args,
	})
	if err != nil {
		return fmt.Errorf("postgres: start replication: %w", err)
	}
	r.log.Info("streaming", "slot", r.slot, "confirmed", pglogrepl.LSN(r.confirmed.Load()))
	s.lastData, s.askedAt = time.Now(), time.Time{}
	s.status = &statusWriter{conn: conn, sent: pglogrepl.LSN(r.confirmed.Load())}
	keepCtx, stopKeeper := context.WithCancel(context.Background())
	var keeper sync.WaitGroup
	keeper.Add(1)
	go func() { defer keeper.Done(); s.status.keep(keepCtx, &s.busy, &r.confirmed) }()
	defer keeper.Wait()
	defer stopKeeper()
	nc := conn.Conn()
	bg := context.Background() // no context watcher: deadlines are set on the socket
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.tick(ctx, false); err != nil {
			return err
		}
		_ = nc.SetReadDeadline(time.Now().Add(statusEvery))
		for {
			msg, err := conn.ReceiveMessage(bg)
			if err != nil {
				var ne net.Error
				if pgconn.Timeout(err) || (errors.As(err, &ne) && ne.Timeout()) {
					break
				}
				return fmt.Errorf("postgres: receive: %w", err)
			}
			switch m := msg.(type) {
			case *pgproto3.CopyData:
				s.busy.Store(time.Now().UnixNano())
				err := s.copyData(ctx, m.Data)
				s.busy.Store(0)
				if err != nil {
					return err
				}
			case *pgproto3.ErrorResponse:
				return fmt.Errorf("postgres: %w", pgconn.ErrorResponseToPgError(m))
			case *pgproto3.CopyDone:
				return errors.New("postgres: the server ended replication")
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if _, at := s.status.last(); time.Since(at) > statusEvery {
				break
			}
		}
		_ = nc.SetReadDeadline(time.Time{})
	}
}

// tick sends a status update when the flush position moved (at most every
// statusEvery), at least every standbyEvery, or when asked; when the
// source has been idle for the heartbeat, it asks the server for a
// keepalive, whose position moves the slot on (see flushPosition).
func (s *streamer) tick(ctx context.Context, asked bool) error {
	flush := s.flushPosition()
	sent, sentAt := s.status.last()
	idle := time.Since(s.lastData) >= s.r.heartbeat
	ask := idle && !asked && time.Since(s.askedAt) >= s.r.heartbeat
	due := asked || ask || time.Since(sentAt) >= standbyEvery || (flush > sent && time.Since(sentAt) >= statusEvery)
	if !due {
		return nil
	}
	if ask {
		s.askedAt = time.Now()
	}
	return s.status.send(ctx, flush, ask)
}

// flushPosition is what the slot may forget: what Confirm was given; or,
// when every transaction with changes is confirmed and none is open, the
// server's position from its last keepalive (nothing before it concerns
// the reader any more: it has all been read and confirmed).
func (s *streamer) flushPosition() pglogrepl.LSN {
	c := pglogrepl.LSN(s.r.confirmed.Load())
	if !s.inTx && c >= s.lastWithChanges {
		c = max(c, s.walEnd, s.lastEnd)
	}
	return c
}

func (s *streamer) copyData(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		k, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return fmt.Errorf("postgres: keepalive: %w", err)
		}
		if !s.inTx {
			s.walEnd = max(s.walEnd, k.ServerWALEnd)
		}
		if k.ReplyRequested {
			return s.tick(ctx, true)
		}
	case pglogrepl.XLogDataByteID:
		x, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return fmt.Errorf("postgres: xlog data: %w", err)
		}
		s.lastData = time.Now()
		msg, err := pglogrepl.Parse(x.WALData)
		if err != nil {
			return fmt.Errorf("postgres: pgoutput: %w", err)
		}
		return s.message(ctx, msg)
	}
	return nil
}

func (s *streamer) message(ctx context.Context, msg pglogrepl.Message) error {
	r := s.r
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		return s.relation(ctx, m)
	case *pglogrepl.BeginMessage:
		s.inTx, s.held, s.txIndex, s.anyInTx = true, nil, 0, false
		s.txXid, s.txLSN, s.txTime = m.Xid, m.FinalLSN, m.CommitTime
		s.txIDPre = s.r.slot + ":" + m.FinalLSN.String() + ":"
		s.txName = s.txIDPre + strconv.FormatInt(m.CommitTime.UnixNano(), 10) + ":" + s.r.tablesTag
		// After a reconnection the server sends again what was not
		// confirmed; what this reader already handed on is skipped.
		s.skipTx = m.FinalLSN < s.lastEnd
	case *pglogrepl.CommitMessage:
		s.inTx = false
		if s.skipTx {
			return nil
		}
		end := m.TransactionEndLSN
		if s.held != nil {
			s.held.EndOfTx, s.held.Position = true, end
			if err := s.emit(ctx, s.held); err != nil {
				return err
			}
			s.held = nil
		}
		if s.anyInTx {
			s.lastWithChanges = end
			r.mu.Lock()
			r.pending = append(r.pending, txTime{end: end, commit: m.CommitTime})
			if len(r.pending) > 4096 {
				r.dropConfirmedLocked(pglogrepl.LSN(r.confirmed.Load()))
			}
			r.mu.Unlock()
		}
		s.lastEnd = end
	case *pglogrepl.InsertMessage:
		return s.change(ctx, m.RelationID, cdc.OpCreate, nil, 0, m.Tuple)
	case *pglogrepl.UpdateMessage:
		return s.change(ctx, m.RelationID, cdc.OpUpdate, m.OldTuple, m.OldTupleType, m.NewTuple)
	case *pglogrepl.DeleteMessage:
		return s.change(ctx, m.RelationID, cdc.OpDelete, m.OldTuple, m.OldTupleType, nil)
	case *pglogrepl.LogicalDecodingMessage:
		// A report in a transaction already handed on was handled then.
		if m.Prefix != ddlPrefix || (m.Transactional && s.skipTx) {
			return nil
		}
		return s.ddl(ctx, m)
	case *pglogrepl.TruncateMessage:
		for _, id := range m.RelationIDs {
			if err := s.change(ctx, id, cdc.OpTruncate, nil, 0, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// relation records a table's shape from a relation message, with not-null
// and the primary key from the catalog.
func (s *streamer) relation(ctx context.Context, m *pglogrepl.RelationMessage) error {
	q := m.Namespace + "." + m.RelationName
	ex, ok := s.r.exclude[q]
	if !ok { // a table of the publication weir was not asked for
		s.rels[m.RelationID] = &relation{oid: m.RelationID, schema: m.Namespace, name: m.RelationName}
		return nil
	}
	// The server sends a transaction once its commit is in the WAL, a
	// moment before the commit is visible to other sessions: a catalog
	// that misses a column of the message is read again, briefly.
	var cat map[string]catalogColumn
	for try := 0; ; try++ {
		var err error
		_, _, cat, err = loadCatalog(ctx, s.r.db, m.Namespace, m.RelationName)
		if err != nil && !errors.Is(err, ErrNoTable) {
			return fmt.Errorf("postgres: catalog of %s: %w", q, err)
		}
		if try >= 50 || catalogCovers(cat, m) {
			break
		}
		if !lifecycle.Sleep(ctx, 10*time.Millisecond) {
			return ctx.Err()
		}
	}
	names := make([]string, len(m.Columns))
	oids := make([]uint32, len(m.Columns))
	keys := make([]bool, len(m.Columns))
	for i, c := range m.Columns {
		names[i], oids[i], keys[i] = c.Name, c.DataType, c.Flags&1 != 0
	}
	s.rels[m.RelationID] = buildRelation(m.RelationID, m.Namespace, m.RelationName, names, oids, keys, cat, ex)
	return nil
}

// change builds one change and hands on the one held before it.
func (s *streamer) change(ctx context.Context, relID uint32, op string, old *pglogrepl.TupleData, oldType uint8, tuple *pglogrepl.TupleData) error {
	if s.skipTx {
		s.txIndex++
		return nil
	}
	rel, ok := s.rels[relID]
	if !ok {
		return fmt.Errorf("postgres: change of relation %d before its relation message", relID)
	}
	if rel.table == nil { // not captured
		return nil
	}
	if !sameShape(s.shapes[rel.qualified()], rel.table) {
		if err := s.r.emitter.TableChanged(ctx, rel.table); err != nil {
			return err
		}
		s.shapes[rel.qualified()] = rel.table
	}
	c := &cdc.Change{
		ID:       s.txIDPre + strconv.Itoa(s.txIndex),
		Tx:       s.txName,
		TxIndex:  s.txIndex,
		Table:    rel.table,
		Time:     s.txTime,
		Position: s.lastEnd,
	}
	s.txIndex++
	var err error
	var after, before []byte
	var keyFrom *pglogrepl.TupleData
	fullOld := tuple != nil && old != nil && oldType == pglogrepl.UpdateMessageTupleTypeOld
	if tuple != nil {
		var fallback *pglogrepl.TupleData
		if fullOld {
			// An unchanged TOASTed value is absent from the new tuple but
			// present in the full old one.
			fallback = old
		}
		if after, err = s.r.row(rel, tuple, fallback, false); err != nil {
			return err
		}
		keyFrom = tuple
	}
	if old != nil {
		if before, err = s.r.row(rel, old, nil, oldType == pglogrepl.UpdateMessageTupleTypeKey); err != nil {
			return err
		}
		if keyFrom == nil {
			keyFrom = old
		}
	}
	if keyFrom != nil {
		c.Key, err = s.r.key(rel, keyFrom)
		if err != nil {
			return err
		}
	}
	c.Value = cdc.Value{
		Before: nullable(before), After: nullable(after), Compact: true, Op: op, TsMs: time.Now().UnixMilli(),
		Source: cdc.Source{Connector: Connector, Name: s.r.name, DB: s.r.dbName, Schema: rel.schema, Table: rel.name,
			TxID: int64(s.txXid), LSN: int64(s.txLSN), TsMs: s.txTime.UnixMilli(), Snapshot: "false"},
	}
	if s.held != nil {
		if err := s.emit(ctx, s.held); err != nil {
			return err
		}
	}
	s.held, s.anyInTx = c, true
	return nil
}

// emit hands a change on. A transaction's changes go on together: a
// backfill's rows wait for its end (emitMu).
func (s *streamer) emit(ctx context.Context, c *cdc.Change) error {
	if !s.locked {
		s.r.emitMu.Lock()
		s.locked = true
	}
	if c.EndOfTx {
		defer func() { s.r.emitMu.Unlock(); s.locked = false }()
	}
	if err := s.r.emitter.Emit(ctx, c); err != nil {
		return fmt.Errorf("postgres: emit %s: %w", c.ID, err)
	}
	return nil
}

func nullable(b []byte) json.RawMessage {
	if b == nil {
		return json.RawMessage("null")
	}
	return b
}

// row encodes a tuple as a JSON object of the kept columns, in table
// order. A column the server did not send (an unchanged TOASTed value) is
// taken from fallback when given, else it is cdc.Unavailable.
func (r *Reader) row(rel *relation, t *pglogrepl.TupleData, fallback *pglogrepl.TupleData, keyOnly bool) ([]byte, error) {
	b := make([]byte, 0, 64+32*len(rel.cols))
	b = append(b, '{')
	first := true
	for i, c := range rel.cols {
		if c.excluded || i >= len(t.Columns) || (keyOnly && !c.key) {
			continue
		}
		col := t.Columns[i]
		if col.DataType == pglogrepl.TupleDataTypeToast && fallback != nil && i < len(fallback.Columns) && fallback.Columns[i].DataType != pglogrepl.TupleDataTypeToast {
			col = fallback.Columns[i]
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = cdc.AppendJSONString(b, c.name)
		b = append(b, ':')
		switch col.DataType {
		case pglogrepl.TupleDataTypeNull:
			b = append(b, "null"...)
		case pglogrepl.TupleDataTypeToast:
			b = cdc.AppendJSONString(b, cdc.Unavailable)
		case pglogrepl.TupleDataTypeText:
			v, err := r.dec.value(c.typeOID, col.Data)
			if err != nil {
				return nil, fmt.Errorf("postgres: %s.%s: %w", rel.qualified(), c.name, err)
			}
			if b, err = appendJSON(b, v); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("postgres: %s.%s: binary tuple data", rel.qualified(), c.name)
		}
	}
	return append(b, '}'), nil
}

// appendJSON appends a decoded value's JSON.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case json.RawMessage:
		return append(b, v...), nil
	case string:
		return cdc.AppendJSONString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// key is the primary key's values from a tuple.
func (r *Reader) key(rel *relation, t *pglogrepl.TupleData) ([]any, error) {
	out := make([]any, 0, len(rel.keyIdx))
	for _, i := range rel.keyIdx {
		if i >= len(t.Columns) {
			continue
		}
		col := t.Columns[i]
		if col.DataType != pglogrepl.TupleDataTypeText {
			out = append(out, nil)
			continue
		}
		v, err := r.dec.value(rel.cols[i].typeOID, col.Data)
		if err != nil {
			return nil, err
		}
		if raw, ok := v.(json.RawMessage); ok && isInteger(rel.cols[i].typeOID) {
			v = json.Number(raw) // checked by value
		} else if ok {
			d := json.NewDecoder(bytes.NewReader(raw))
			d.UseNumber()
			var x any
			if err := d.Decode(&x); err == nil {
				v = x
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// catalogCovers reports whether the catalog has every column of the
// relation message with its type.
func catalogCovers(cat map[string]catalogColumn, m *pglogrepl.RelationMessage) bool {
	for _, c := range m.Columns {
		if cc, ok := cat[c.Name]; !ok || cc.typeOID != c.DataType {
			return false
		}
	}
	return true
}

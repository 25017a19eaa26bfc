package mysql

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/cdc"
)

// run snapshots when asked and needed, then streams, reconnecting with
// backoff after each failure and resuming after the last transaction it
// handed on: it never skips.
func (r *Reader) run(ctx context.Context, saved *Position) {
	backoff := 100 * time.Millisecond
	r.mu.Lock()
	r.readPos = saved
	r.mu.Unlock()
	for ctx.Err() == nil {
		var err error
		if r.readPos == nil {
			r.setState("snapshot")
			var p *Position
			p, err = r.begin(ctx)
			r.mu.Lock()
			r.readPos = p
			r.mu.Unlock()
		}
		if err == nil {
			err = r.stream(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		r.fail(ctx, err)
		r.setState("failing")
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// begin finds where a reader without a saved position starts: after a
// snapshot when the spec asks for one, else at the server's current GTID
// position.
func (r *Reader) begin(ctx context.Context) (*Position, error) {
	if r.spec.Snapshot != "never" {
		return r.snapshot(ctx)
	}
	p := &Position{}
	if err := r.db.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&p.GTID); err != nil {
		return nil, fmt.Errorf("read gtid_binlog_pos: %w", err)
	}
	return p, nil
}

// txState is the transaction being read.
type txState struct {
	gtid      gtid
	gtidText  string
	index     int
	ts        uint32
	held      *cdc.Change // the last change read, emitted when the next arrives or the transaction ends
	inGroup   bool
	emittedAt time.Time
}

// stream reads the binlog from r.readPos until ctx ends or the connection
// fails.
func (r *Reader) stream(ctx context.Context) error {
	var checksum string
	if err := r.db.QueryRowContext(ctx, "SELECT @@global.binlog_checksum").Scan(&checksum); err != nil {
		return fmt.Errorf("read binlog_checksum: %w", err)
	}
	w, err := dial(ctx, r.spec.DSN)
	if err != nil {
		return err
	}
	defer w.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-sctx.Done(); w.Close() }() // unblocks a read on stop
	for _, s := range []string{
		"SET @master_binlog_checksum = @@global.binlog_checksum",
		"SET @mariadb_slave_capability = 4",
		"SET @slave_connect_state = '" + strings.ReplaceAll(r.readPos.GTID, "'", "") + "'",
		"SET @slave_gtid_strict_mode = 1",
		"SET @slave_gtid_ignore_duplicates = 0",
		"SET @master_heartbeat_period = 1000000000",
	} {
		if err := w.exec(s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	// The catalog is read before the stream starts, not at the first change
	// of each table, where the changes behind it would wait for it.
	if err := r.loadCatalog(ctx); err != nil {
		return err
	}
	reg := binary.LittleEndian.AppendUint32([]byte{0x15}, r.spec.ServerID)
	reg = append(reg, 0, 0, 0)    // hostname, user, password
	reg = append(reg, 0, 0)       // port
	reg = append(reg, 0, 0, 0, 0) // rank
	reg = append(reg, 0, 0, 0, 0) // master id
	if err := w.command(reg); err != nil {
		return err
	}
	if p, err := w.readPacket(); err != nil {
		return err
	} else if p[0] == 0xff {
		return fmt.Errorf("register as replica: %w", parseErr(p))
	}
	dump := binary.LittleEndian.AppendUint32([]byte{0x12}, 4)
	dump = binary.LittleEndian.AppendUint16(dump, 0)
	dump = binary.LittleEndian.AppendUint32(dump, r.spec.ServerID)
	if err := w.command(dump); err != nil {
		return err
	}
	r.setState("streaming")
	r.log.InfoContext(ctx, "streaming the binlog", "gtid", r.readPos.GTID)
	r.maps = map[uint64]*tableMap{}
	crc := checksum == "CRC32"
	file := r.readPos.File
	set := parseGTIDSet(r.readPos.GTID)
	var tx txState
	for {
		_ = w.c.SetReadDeadline(time.Now().Add(30 * time.Second)) // heartbeats come every second
		p, err := w.readPacket()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read binlog: %w", err)
		}
		switch {
		case len(p) == 0:
			return errMalformed
		case p[0] == 0xff:
			return parseErr(p)
		case p[0] == 0xfe && len(p) < 9:
			return errors.New("the server ended the binlog stream")
		}
		ev := p[1:]
		h, _, err := parseHeader(ev)
		if err != nil {
			return err
		}
		if h.Type == evFormatDesc {
			crc = formatChecksum(ev[19:])
		}
		ev, err = checksumBody(ev, crc)
		if err != nil {
			return err
		}
		body := ev[19:]
		switch h.Type {
		case evRotate:
			if len(body) > 8 {
				file = string(body[8:])
			}
		case evMariaGTID:
			g, standalone, err := mariaGTID(h, body)
			if err != nil {
				return err
			}
			tx = txState{gtid: g, gtidText: g.String(), ts: h.Timestamp, inGroup: !standalone}
			if standalone {
				set[g.Domain] = g
			}
		case evTableMap:
			tm, err := parseTableMap(body)
			if err != nil {
				return err
			}
			r.maps[tm.ID] = tm
		case evWriteRowsV1, evUpdateRowsV1, evDeleteRowsV1, evWriteRowsV2, evUpdateRowsV2, evDeleteRowsV2:
			if err := r.rows(ctx, h, body, file, &tx); err != nil {
				return err
			}
		case evXID:
			set[tx.gtid.Domain] = tx.gtid
			if err := r.endTx(ctx, &tx, set, file, h.LogPos); err != nil {
				return err
			}
		case evQuery:
			db, stmt, err := parseQuery(body)
			if err != nil {
				return err
			}
			if err := r.query(ctx, h, db, stmt, file, set, &tx); err != nil {
				return err
			}
		}
	}
}

// query handles a statement in the binlog: COMMIT ends a non-transactional
// group, TRUNCATE of a captured table becomes an op "t" change, and DDL
// makes the reader read the tables' columns again.
func (r *Reader) query(ctx context.Context, h header, db, stmt, file string, set map[uint32]gtid, tx *txState) error {
	word := strings.ToUpper(firstWord(stmt))
	switch word {
	case "BEGIN":
		return nil
	case "COMMIT":
		set[tx.gtid.Domain] = tx.gtid
		return r.endTx(ctx, tx, set, file, h.LogPos)
	case "TRUNCATE":
		name := strings.Fields(stmt)
		tbl := strings.Trim(name[len(name)-1], "`;")
		d := db
		if i := strings.IndexByte(tbl, '.'); i >= 0 {
			d, tbl = strings.Trim(tbl[:i], "`"), strings.Trim(tbl[i+1:], "`")
		}
		if _, ok := r.spec.Tables[d+"."+tbl]; ok {
			t, err := r.tableDef(ctx, d, tbl, -1)
			if err != nil {
				return err
			}
			if t != nil {
				c := r.change(h, t, file, tx, 0, cdc.OpTruncate, nil, nil, nil)
				if err := r.push(ctx, tx, c); err != nil {
					return err
				}
			}
		}
	case "ALTER", "CREATE", "DROP", "RENAME":
		r.forgetDefs()
	}
	if !tx.inGroup { // a standalone statement is its own transaction
		set[tx.gtid.Domain] = tx.gtid
		return r.endTx(ctx, tx, set, file, h.LogPos)
	}
	return nil
}

// rows decodes a rows event of a captured table into changes.
func (r *Reader) rows(ctx context.Context, h header, body []byte, file string, tx *txState) error {
	ev, err := parseRows(h.Type, body)
	if err != nil {
		return err
	}
	tm := r.maps[ev.TableID]
	if tm == nil {
		return fmt.Errorf("%w: rows of unknown table id %d", errMalformed, ev.TableID)
	}
	if _, ok := r.spec.Tables[tm.DB+"."+tm.Name]; !ok {
		return nil
	}
	t, err := r.mapDef(ctx, tm)
	if err != nil {
		return err
	}
	if t == nil {
		// dropped (or renamed) since: its rows cannot be decoded
		return fmt.Errorf("table %s.%s: %w", tm.DB, tm.Name, errNoTable)
	}
	if len(t.Columns) != len(tm.Types) || ev.Columns != len(tm.Types) {
		return fmt.Errorf("table %s.%s: the binlog has %d columns, information_schema %d", tm.DB, tm.Name, len(tm.Types), len(t.Columns))
	}
	op := cdc.OpCreate
	switch h.Type {
	case evUpdateRowsV1, evUpdateRowsV2:
		op = cdc.OpUpdate
	case evDeleteRowsV1, evDeleteRowsV2:
		op = cdc.OpDelete
	}
	b := ev.Rows
	for row := 0; len(b) > 0; row++ {
		var first, second []any
		first, b, err = r.image(tm, t, ev.Present, b)
		if err != nil {
			return fmt.Errorf("table %s.%s: %w", tm.DB, tm.Name, err)
		}
		var before, after []any
		switch op {
		case cdc.OpCreate:
			after = first
		case cdc.OpDelete:
			before = first
		case cdc.OpUpdate:
			second, b, err = r.image(tm, t, ev.After, b)
			if err != nil {
				return fmt.Errorf("table %s.%s: %w", tm.DB, tm.Name, err)
			}
			before, after = first, second
		}
		c := r.change(h, t, file, tx, row, op, before, after, nil)
		if err := r.push(ctx, tx, c); err != nil {
			return err
		}
	}
	return nil
}

// image decodes one row image; columns absent from the image are nil.
func (r *Reader) image(tm *tableMap, t *table, present []byte, b []byte) ([]any, []byte, error) {
	n := 0
	for i := range tm.Types {
		if bitSet(present, i) {
			n++
		}
	}
	nb := (n + 7) / 8
	if len(b) < nb {
		return nil, nil, errMalformed
	}
	nulls := b[:nb]
	b = b[nb:]
	vals := make([]any, len(tm.Types))
	k := 0
	for i, typ := range tm.Types {
		if !bitSet(present, i) {
			continue
		}
		isNull := bitSet(nulls, k)
		k++
		if isNull {
			continue
		}
		v, used, err := r.dec.cell(typ, tm.Meta[i], t.Columns[i], b)
		if err != nil {
			return nil, nil, err
		}
		vals[i], b = v, b[used:]
	}
	return vals, b, nil
}

// change builds the cdc.Change of one row.
func (r *Reader) change(h header, t *table, file string, tx *txState, row int, op string, before, after []any, _ any) *cdc.Change {
	keySrc := after
	if keySrc == nil {
		keySrc = before
	}
	var key []any
	if keySrc != nil {
		for _, k := range t.Keys {
			key = append(key, keySrc[k])
		}
	}
	c := &cdc.Change{
		ID:      fmt.Sprintf("%s:%s:%d", r.name, tx.gtidText, tx.index),
		TxIndex: tx.index,
		Table:   r.shapes[t.DB+"."+t.Name],
		Key:     key,
		Time:    time.Unix(int64(h.Timestamp), 0).UTC(),
		Value: cdc.Value{
			Before: rowJSON(t, before),
			After:  rowJSON(t, after),
			Op:     op,
			TsMs:   time.Now().UnixMilli(),
			Source: cdc.Source{
				Connector: Connector, Name: r.name, TsMs: int64(h.Timestamp) * 1000, Snapshot: "false",
				DB: t.DB, Table: t.Name, ServerID: int64(h.ServerID), File: file,
				Pos: int64(h.LogPos) - int64(h.Size), GTID: tx.gtidText, Row: row,
			},
		},
	}
	if tx.gtidText != "" {
		// The GTID, the time and the captured tables: a GTID can come
		// again after RESET MASTER or on a rebuilt server.
		c.Tx = r.name + ":" + tx.gtidText + ":" + strconv.FormatUint(uint64(tx.ts), 10) + ":" + r.tablesTag
	}
	tx.index++
	return c
}

// push hands on the change held before and holds c, so that the last change
// of a transaction can be marked as such when the transaction ends.
func (r *Reader) push(ctx context.Context, tx *txState, c *cdc.Change) error {
	if tx.held != nil {
		if err := r.emitter.Emit(ctx, tx.held); err != nil {
			return err
		}
	}
	tx.held = c
	return nil
}

// endTx marks the held change as the transaction's last with the position
// after it, and hands it on.
func (r *Reader) endTx(ctx context.Context, tx *txState, set map[uint32]gtid, file string, logPos uint32) error {
	pos := &Position{GTID: formatGTIDSet(set), File: file, Pos: logPos, TsMs: int64(tx.ts) * 1000}
	held := tx.held
	*tx = txState{}
	r.mu.Lock()
	r.readPos = pos
	if held != nil {
		r.caughtUp = false
	}
	r.mu.Unlock()
	if held == nil {
		return nil
	}
	held.EndOfTx, held.Position = true, pos
	return r.emitter.Emit(ctx, held)
}

// rowJSON writes a row image as a JSON object in column order, without
// excluded columns; nil for no image.
func rowJSON(t *table, vals []any) json.RawMessage {
	if vals == nil {
		return nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for i, c := range t.Columns {
		if c.Excluded {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		name, _ := json.Marshal(c.Name)
		b.Write(name)
		b.WriteByte(':')
		v, err := json.Marshal(vals[i])
		if err != nil {
			v = []byte("null")
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func firstWord(s string) string {
	s = strings.TrimLeft(s, " \t\r\n(")
	if i := strings.IndexAny(s, " \t\r\n;("); i >= 0 {
		return s[:i]
	}
	return s
}

// parseGTIDSet reads "d-s-n,d-s-n" (one GTID per domain).
func parseGTIDSet(s string) map[uint32]gtid {
	out := map[uint32]gtid{}
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(part), "-")
		if len(f) != 3 {
			continue
		}
		d, e1 := strconv.ParseUint(f[0], 10, 32)
		sv, e2 := strconv.ParseUint(f[1], 10, 32)
		n, e3 := strconv.ParseUint(f[2], 10, 64)
		if e1 == nil && e2 == nil && e3 == nil {
			out[uint32(d)] = gtid{Domain: uint32(d), Server: uint32(sv), Seq: n}
		}
	}
	return out
}

func formatGTIDSet(set map[uint32]gtid) string {
	ds := make([]uint32, 0, len(set))
	for d := range set {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = set[d].String()
	}
	return strings.Join(parts, ",")
}

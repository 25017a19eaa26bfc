package clickhouse

import (
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/sink"
)

// Defaults of a ClickHouse sink's section.
const (
	DefaultDatabase = "default"
	DefaultTable    = "weir_events"
	DefaultUser     = "default"
	DefaultMaxRows  = 10000
	DefaultMaxWait  = time.Second
	defaultPort     = "9000"
)

// Bounds on what a sink's spec may ask for. A spec can come from the API, so
// each is a bound on DDL a token holder makes weir run.
const (
	// MaxRowsLimit is the largest batch.max_rows.
	MaxRowsLimit = 100000
	// MaxWaitLimit is the longest batch.max_wait.
	MaxWaitLimit = time.Minute
	// MaxTables is the most per-type tables of one sink.
	MaxTables = 32
	// MaxColumns is the most typed columns of one per-type table.
	MaxColumns = 100
)

// identifier is a database, table or column name weir creates: plain names
// only, so that no name needs quoting rules beyond backquotes.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Provider builds ClickHouse sinks (the "clickhouse" section of a sink).
type Provider struct{}

var _ sink.Provider = Provider{}

// Kind is "clickhouse".
func (Provider) Kind() string { return "clickhouse" }

// New checks spec.ClickHouse and builds a sink that is not yet connected.
// Errors are *field.Error with paths relative to the sink ("clickhouse.addr",
// "clickhouse.tables.orders.columns.total.type"); a caller prefixes them with
// where the sink is declared.
func (Provider) New(spec *config.Sink, deps sink.Deps) (sink.Sink, error) {
	return New(spec, deps)
}

// New is Provider.New returning the concrete sink.
func New(spec *config.Sink, deps sink.Deps) (*Sink, error) {
	if spec == nil || spec.ClickHouse == nil {
		return nil, field.Errorf("clickhouse", "required")
	}
	c := spec.ClickHouse
	s := &Sink{
		name:     deps.Name,
		observer: deps.Observer,
		database: or(c.Database, DefaultDatabase),
		events:   or(c.Table, DefaultTable),
		user:     or(c.User, DefaultUser),
		password: c.Password,
		batching: sink.Batching{MaxRows: DefaultMaxRows, MaxWait: DefaultMaxWait, MaxBytes: sink.DefaultMaxBytes},
		byType:   map[string][]*typedTable{},
		twins:    twinsOf(spec, deps.Views),
		log:      deps.Log,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	addr, err := normalAddr(c.Addr)
	if err != nil {
		return nil, field.Wrap("clickhouse.addr", err)
	}
	s.addr = addr
	if !identifier.MatchString(s.database) {
		return nil, field.Errorf("clickhouse.database", "%q is not a plain name: use letters, digits and _ (at most 64), not starting with a digit", s.database)
	}
	if !identifier.MatchString(s.events) {
		return nil, field.Errorf("clickhouse.table", "%q is not a plain name: use letters, digits and _ (at most 64), not starting with a digit", s.events)
	}
	if v := s.twinNamed(s.events); v != "" {
		return nil, field.Errorf("clickhouse.table", "%q is where the sink keeps the ClickHouse twin of view %s; name the events table otherwise", s.events, v)
	}
	switch n := c.Batch.MaxRows; {
	case n < 0 || n > MaxRowsLimit:
		return nil, field.Errorf("clickhouse.batch.max_rows", "%d is not between 1 and %d", n, MaxRowsLimit)
	case n > 0:
		s.batching.MaxRows = n
	}
	switch n := c.Batch.MaxBytes; {
	case n < 0 || n > config.MaxSinkBytes:
		return nil, field.Errorf("clickhouse.batch.max_bytes", "%d is not between %d and %d", n, config.MinSinkBytes, config.MaxSinkBytes)
	case n > 0:
		s.batching.MaxBytes = n
	}
	switch d := c.Batch.MaxWait.D(); {
	case d < 0 || d > MaxWaitLimit:
		return nil, field.Errorf("clickhouse.batch.max_wait", "%s is not between 1ms and %s", d, MaxWaitLimit)
	case d > 0:
		s.batching.MaxWait = d
	}
	if len(c.Tables) > MaxTables {
		return nil, field.Errorf("clickhouse.tables", "%d tables; a sink has at most %d", len(c.Tables), MaxTables)
	}
	names := make([]string, 0, len(c.Tables))
	for name := range c.Tables {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t, err := newTypedTable(name, c.Tables[name], s.events, spec.Types)
		if err != nil {
			return nil, err.Prefix("clickhouse.tables")
		}
		if v := s.twinNamed(name); v != "" {
			return nil, field.Errorf("clickhouse.tables."+name, "is where the sink keeps the ClickHouse twin of view %s; give the per-type table another name", v)
		}
		s.tables = append(s.tables, t)
		s.byType[t.eventType] = append(s.byType[t.eventType], t)
	}
	return s, nil
}

// twinNamed is the view whose twin has a table or view called name, or "".
func (s *Sink) twinNamed(name string) string {
	for _, t := range s.twins {
		reader, _, _ := t.readerDef()
		if name == t.table || name == t.rowsTable() || name == reader {
			return t.spec.Name
		}
	}
	return ""
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// normalAddr checks host:port and adds the native protocol's port 9000 when
// the address has none.
func normalAddr(a string) (string, error) {
	if a == "" {
		return "", fmt.Errorf("required: the server's native-protocol address, host:port (e.g. clickhouse:9000)")
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		host, port = a, defaultPort
		if _, _, err2 := net.SplitHostPort(net.JoinHostPort(host, port)); err2 != nil || len(a) > 253 {
			return "", fmt.Errorf("%q is not host:port", a)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q has no valid port (1-65535)", a)
	}
	if host == "" {
		return "", fmt.Errorf("%q has no host", a)
	}
	return net.JoinHostPort(host, port), nil
}

// typedTable is a per-type table: the events of one type, with typed
// columns taken from their data.
type typedTable struct {
	name      string
	eventType string
	cols      []typedColumn // sorted by name
}

// typedColumn is one mapped column of a per-type table.
type typedColumn struct {
	name string
	ptr  pointer
	typ  colType
}

// fixedTypedColumns are the columns every per-type table has before its
// mapped ones; a mapped column may not take their names.
var fixedTypedColumns = []string{"id", "time", "received_at"}

func newTypedTable(name string, t *config.ClickHouseTable, events string, patterns []string) (*typedTable, *field.Error) {
	if !identifier.MatchString(name) {
		return nil, field.Errorf(name, "is not a plain table name: use letters, digits and _ (at most 64), not starting with a digit")
	}
	if name == events {
		return nil, field.Errorf(name, "is the table every event goes to; give the per-type table another name")
	}
	if t == nil {
		return nil, field.Errorf(name, "required: {type, columns}")
	}
	if err := event.ValidType(t.Type); err != nil {
		return nil, field.Wrap(field.Join(name, "type"), err)
	}
	if len(patterns) > 0 && !event.MatchAnyType(patterns, t.Type) {
		return nil, field.Errorf(field.Join(name, "type"), "%q is not among the sink's types %v, so the table would stay empty", t.Type, patterns)
	}
	if len(t.Columns) == 0 {
		return nil, field.Errorf(field.Join(name, "columns"), "at least one column is required (e.g. total: {pointer: /total, type: Decimal(12, 2)})")
	}
	if len(t.Columns) > MaxColumns {
		return nil, field.Errorf(field.Join(name, "columns"), "%d columns; a table has at most %d", len(t.Columns), MaxColumns)
	}
	tt := &typedTable{name: name, eventType: t.Type}
	for col, c := range t.Columns {
		path := field.Join(name, "columns."+col)
		if !identifier.MatchString(col) {
			return nil, field.Errorf(path, "is not a plain column name: use letters, digits and _ (at most 64), not starting with a digit")
		}
		if slices.Contains(fixedTypedColumns, col) {
			return nil, field.Errorf(path, "every per-type table has the columns %v already; choose another name", fixedTypedColumns)
		}
		if c == nil {
			return nil, field.Errorf(path, "required: {pointer, type}")
		}
		ptr, err := parsePointer(c.Pointer)
		if err != nil {
			return nil, field.Wrap(field.Join(path, "pointer"), err)
		}
		typ, err := parseType(c.Type)
		if err != nil {
			return nil, field.Wrap(field.Join(path, "type"), err)
		}
		tt.cols = append(tt.cols, typedColumn{name: col, ptr: ptr, typ: typ})
	}
	slices.SortFunc(tt.cols, func(a, b typedColumn) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return tt, nil
}

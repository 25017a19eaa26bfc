package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/delivery/filter"
	"github.com/weir-dev/weir/internal/field"
)

// Bounds of a sink's settings. A sink is created by an admin, but its
// tables and columns become DDL on the store, so their names and types are
// kept to what a store's identifiers and type names are.
const (
	// MaxSinkRows is the largest batch.max_rows.
	MaxSinkRows = 1_000_000
	// DefaultSinkBytes is batch.max_bytes when not given; MinSinkBytes and
	// MaxSinkBytes bound it.
	DefaultSinkBytes = 16 << 20
	MinSinkBytes     = 1 << 20
	MaxSinkBytes     = 256 << 20
	// MinSinkWait and MaxSinkWait bound batch.max_wait.
	MinSinkWait = 10 * time.Millisecond
	MaxSinkWait = time.Minute
	// maxSinkTables and maxSinkColumns bound a ClickHouse section's tables
	// and each table's columns.
	maxSinkTables  = 64
	maxSinkColumns = 512
	// maxColumnType bounds a column's type name ("Decimal(12,2)").
	maxColumnType = 128
)

// identifier is a database, table or column name that needs no quoting in
// ClickHouse (nor in most SQL stores).
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// columnType is a type name such as Decimal(12,2), Nullable(String) or
// DateTime64(3, 'UTC'): letters, digits, parentheses, commas, spaces, quotes.
var columnType = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_(), '.-]*$`)

// WithDefaults fills a sink's unset fields, and those of its provider's section.
func (s *Sink) WithDefaults() {
	if s.Start == "" {
		s.Start = "all"
	}
	if s.ClickHouse != nil {
		s.ClickHouse.WithDefaults()
	}
}

// WithDefaults fills a ClickHouse section's unset fields: database
// "default", table "weir_events", user "default", batch of 10000 rows or 1s.
func (c *ClickHouseSink) WithDefaults() {
	if c.Database == "" {
		c.Database = "default"
	}
	if c.Table == "" {
		c.Table = "weir_events"
	}
	if c.User == "" {
		c.User = "default"
	}
	if c.Batch.MaxRows == 0 {
		c.Batch.MaxRows = 10000
	}
	if c.Batch.MaxWait == 0 {
		c.Batch.MaxWait = Duration(time.Second)
	}
	if c.Batch.MaxBytes == 0 {
		c.Batch.MaxBytes = DefaultSinkBytes
	}
}

// ValidSinkName reports why name cannot name a sink: the same rules as a
// subscription's, since it names a bus consumer (sink-<name>) and a URL
// path segment.
func ValidSinkName(name string) error { return ValidSubscriptionName(name) }

// Validate checks a sink with its defaults filled in (WithDefaults): its
// types, filter, start and provider section. An error is a *field.Error
// whose Path is the field under path ("sinks.orders.clickhouse.addr", or
// "clickhouse.addr" when path is empty). Whether a provider of the kind is
// registered is for the sink package's Registry to say.
func (s *Sink) Validate(path string) error {
	if err := validTypePatterns(path, s.Types, "sinks"); err != nil {
		return err
	}
	if _, err := filter.Compile(s.Filter); err != nil {
		var fe *field.Error
		if errors.As(err, &fe) {
			// Compile names "filter" itself; keep its path under ours.
			return fe.Prefix(path)
		}
		return field.Wrap(field.Join(path, "filter"), err)
	}
	if s.Start != "new" && s.Start != "all" {
		return field.Errorf(field.Join(path, "start"), "%q is not new or all", s.Start)
	}
	if s.Kind() == "" {
		return field.Errorf(path, "say which store the sink loads: set clickhouse")
	}
	if c := s.ClickHouse; c != nil {
		if err := c.validate(); err != nil {
			return err.Prefix(field.Join(path, "clickhouse"))
		}
	}
	return nil
}

func (c *ClickHouseSink) validate() *field.Error {
	if c.Addr == "" {
		return field.Errorf("addr", "required: the server's native-protocol address, host:port (e.g. localhost:9000)")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return field.Errorf("addr", "%q is not host:port (e.g. localhost:9000)", c.Addr)
	}
	if !identifier.MatchString(c.Database) {
		return field.Errorf("database", "%q is not a name of letters, digits and '_' (at most 63, not starting with a digit)", c.Database)
	}
	if !identifier.MatchString(c.Table) {
		return field.Errorf("table", "%q is not a name of letters, digits and '_' (at most 63, not starting with a digit)", c.Table)
	}
	if c.Batch.MaxRows < 1 || c.Batch.MaxRows > MaxSinkRows {
		return field.Errorf("batch.max_rows", "%d is out of range 1..%d", c.Batch.MaxRows, MaxSinkRows)
	}
	if w := c.Batch.MaxWait.D(); w < MinSinkWait || w > MaxSinkWait {
		return field.Errorf("batch.max_wait", "%s is out of range %s..%s", w, MinSinkWait, MaxSinkWait)
	}
	if b := c.Batch.MaxBytes; b < MinSinkBytes || b > MaxSinkBytes {
		return field.Errorf("batch.max_bytes", "%d is out of range %d..%d (1 MiB..256 MiB)", b, MinSinkBytes, MaxSinkBytes)
	}
	if len(c.Tables) > maxSinkTables {
		return field.Errorf("tables", "%d tables are more than the %d one sink may have", len(c.Tables), maxSinkTables)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Tables)) {
		if err := c.Tables[name].validate(name, c.Table); err != nil {
			return err.Prefix("tables." + name)
		}
	}
	return nil
}

func (t *ClickHouseTable) validate(name, main string) *field.Error {
	if !identifier.MatchString(name) {
		return field.Errorf("", "%q is not a table name of letters, digits and '_' (at most 63, not starting with a digit)", name)
	}
	if name == main {
		return field.Errorf("", "%q is the table every event goes to (clickhouse.table); give the per-type table another name", name)
	}
	if t == nil {
		return field.Errorf("", "is empty: give type and columns")
	}
	if t.Type == "" {
		return field.Errorf("type", "required: the event type whose events fill the table (e.g. order.created)")
	}
	if err := ValidType(t.Type); err != nil {
		return field.Errorf("type", "%q is not one exact event type (no patterns): %v", t.Type, err)
	}
	if len(t.Columns) == 0 {
		return field.Errorf("columns", "at least one column is required (e.g. total: {pointer: /total, type: Decimal(12,2)})")
	}
	if len(t.Columns) > maxSinkColumns {
		return field.Errorf("columns", "%d columns are more than the %d one table may have", len(t.Columns), maxSinkColumns)
	}
	for _, col := range slices.Sorted(maps.Keys(t.Columns)) {
		p := "columns." + col
		c := t.Columns[col]
		if !identifier.MatchString(col) {
			return field.Errorf(p, "%q is not a column name of letters, digits and '_' (at most 63, not starting with a digit)", col)
		}
		if c == nil {
			return field.Errorf(p, "is empty: give pointer and type")
		}
		if err := validPointer(c.Pointer); err != nil {
			return field.Wrap(p+".pointer", err)
		}
		if err := validColumnType(c.Type); err != nil {
			return field.Wrap(p+".type", err)
		}
	}
	return nil
}

// validPointer checks an RFC 6901 JSON pointer: "" (the whole data) or
// "/"-separated tokens where "~" is only ever "~0" or "~1".
func validPointer(p string) error {
	if p != "" && !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q is not a JSON pointer: it starts with / (e.g. /total, /customer/id)", p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || (p[i+1] != '0' && p[i+1] != '1')) {
			return fmt.Errorf("%q is not a JSON pointer: ~ is written ~0 and / inside a name ~1", p)
		}
	}
	return nil
}

// validColumnType checks a column type's spelling, not that the store knows
// it (the store says so when the sink creates its table): a name with
// balanced parentheses and quotes, and nothing that could end the
// definition it is written into.
func validColumnType(t string) error {
	if t == "" {
		return fmt.Errorf("required: the store's column type (e.g. String, UInt32, Decimal(12,2), Nullable(String))")
	}
	if len(t) > maxColumnType || !columnType.MatchString(t) {
		return fmt.Errorf("%q is not a type name (letters, digits and parentheses, e.g. Decimal(12,2))", t)
	}
	depth, quoted := 0, false
	for _, r := range t {
		switch {
		case r == '\'':
			quoted = !quoted
		case quoted:
		case r == '(':
			depth++
		case r == ')':
			depth--
			if depth < 0 {
				return fmt.Errorf("%q has a ) without its (", t)
			}
		}
	}
	if depth != 0 || quoted {
		return fmt.Errorf("%q has unbalanced parentheses or quotes", t)
	}
	return nil
}

// validateSinks checks every sink of weir.yaml, in name order.
func (c *Config) validateSinks() error {
	for _, name := range slices.Sorted(maps.Keys(c.Sinks)) {
		p := "sinks." + name
		if err := ValidSinkName(name); err != nil {
			return field.Wrap(p, err)
		}
		s := c.Sinks[name]
		if s == nil {
			return field.Errorf(p, "is empty: give types and a store section (clickhouse)")
		}
		if err := s.Validate(p); err != nil {
			return err
		}
	}
	return nil
}

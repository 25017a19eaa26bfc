package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/field"
)

// Bounds and defaults of a cdc source.
const (
	// DefaultCDCPrefix starts event types when prefix is unset.
	DefaultCDCPrefix = "db"
	// DefaultHeartbeat is a PostgreSQL source's heartbeat when unset.
	DefaultHeartbeat = 10 * time.Second
	// DefaultMaxRetainedWAL is a PostgreSQL source's retained-WAL warning
	// threshold when unset: 1 GiB.
	DefaultMaxRetainedWAL = 1 << 30
	// DDLOff and DDLTrigger are the values of a PostgreSQL source's ddl:
	// no DDL reports, or an event trigger that reports them.
	DDLOff     = "off"
	DDLTrigger = "trigger"
	// maxCDCTables bounds the tables of one source.
	maxCDCTables = 1024
	// maxCDCExclude bounds one table's excluded columns.
	maxCDCExclude = 1024
)

// pgIdentifier is a publication or slot name: PostgreSQL folds unquoted names
// to lower case, and slot names may only hold lower-case letters, digits and
// '_' (at most 63 bytes, NAMEDATALEN-1).
var pgIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Kind is the name of the database section that is set ("postgres",
// "mysql"), or "" when none is.
func (c *CDC) Kind() string {
	switch {
	case c.Postgres != nil:
		return "postgres"
	case c.MySQL != nil:
		return "mysql"
	}
	return ""
}

// WithDefaults fills a cdc source's unset fields: prefix "db", numeric
// "string", snapshot "initial"; for PostgreSQL, publication and slot
// "weir_<name>" (the name in lower case, '-' as '_'), heartbeat 10s,
// max_retained_wal 1 GiB, ddl "off", and table keys without a schema put
// in "public".
func (c *CDC) WithDefaults(name string) {
	if c.Prefix == "" {
		c.Prefix = DefaultCDCPrefix
	}
	if c.Numeric == "" {
		c.Numeric = "string"
	}
	if p := c.Postgres; p != nil {
		def := "weir_" + strings.ReplaceAll(strings.ToLower(name), "-", "_")
		if p.Publication == "" {
			p.Publication = def
		}
		if p.Slot == "" {
			p.Slot = def
		}
		if p.Snapshot == "" {
			p.Snapshot = "initial"
		}
		if p.Heartbeat == 0 {
			p.Heartbeat = Duration(DefaultHeartbeat)
		}
		if p.MaxRetainedWAL == 0 {
			p.MaxRetainedWAL = DefaultMaxRetainedWAL
		}
		if p.DDL == "" {
			p.DDL = DDLOff
		}
		// A key without a schema is in public, unless public.<table> is
		// declared too: then validation names the duplicate.
		for k, t := range p.Tables {
			if !strings.Contains(k, ".") {
				if _, dup := p.Tables["public."+k]; !dup {
					delete(p.Tables, k)
					p.Tables["public."+k] = t
				}
			}
		}
	}
	if m := c.MySQL; m != nil && m.Snapshot == "" {
		m.Snapshot = "initial"
	}
}

// ValidCDCName reports why name cannot name a cdc source: the rules of a
// webhook source's name (a URL path segment, the event source /cdc/<name>).
func ValidCDCName(name string) error { return ValidSourceName(name) }

// Validate checks a cdc source with its defaults filled in (WithDefaults).
// An error is a *field.Error whose Path is the field under path
// ("cdc.orders.postgres.dsn").
//
// Schema, table and column names must be plain identifiers (a letter or
// '_', then letters, digits and '_'): they become segments of event types
// (<prefix>.<schema>.<table>), which allow only letters, digits, '-' and '_'.
// A table whose name needs quoting is refused here rather than mapped to a
// different name, so that two tables can never share an event type.
func (c *CDC) Validate(path string) error {
	if c.Prefix != "" {
		if err := event.ValidType(c.Prefix); err != nil {
			return field.Wrap(field.Join(path, "prefix"), err)
		}
	}
	if c.Numeric != "string" && c.Numeric != "number" {
		return field.Errorf(field.Join(path, "numeric"), "%q is not string or number", c.Numeric)
	}
	switch {
	case c.Postgres == nil && c.MySQL == nil:
		return field.Errorf(path, "give a postgres or a mysql section")
	case c.Postgres != nil && c.MySQL != nil:
		return field.Errorf(field.Join(path, "mysql"), "give either postgres or mysql, not both")
	case c.Postgres != nil:
		return c.Postgres.validate(field.Join(path, "postgres"), c.Prefix)
	default:
		return c.MySQL.validate(field.Join(path, "mysql"), c.Prefix)
	}
}

func (p *PostgresCDC) validate(path, prefix string) error {
	if strings.TrimSpace(p.DSN) == "" {
		return field.Errorf(field.Join(path, "dsn"), "required")
	}
	if !pgIdentifier.MatchString(p.Publication) {
		return field.Errorf(field.Join(path, "publication"), "%q must be 1-63 lower-case letters, digits or '_', not starting with a digit", p.Publication)
	}
	if !pgIdentifier.MatchString(p.Slot) {
		return field.Errorf(field.Join(path, "slot"), "%q must be 1-63 lower-case letters, digits or '_', not starting with a digit", p.Slot)
	}
	if err := validSnapshot(p.Snapshot); err != nil {
		return field.Wrap(field.Join(path, "snapshot"), err)
	}
	if p.Heartbeat.D() < time.Second {
		return field.Errorf(field.Join(path, "heartbeat"), "%s is less than 1s", p.Heartbeat.D())
	}
	if p.MaxRetainedWAL < 0 {
		return field.Errorf(field.Join(path, "max_retained_wal"), "must be positive")
	}
	if p.DDL != DDLOff && p.DDL != DDLTrigger {
		return field.Errorf(field.Join(path, "ddl"), "%q is not off or trigger", p.DDL)
	}
	return validTables(field.Join(path, "tables"), p.Tables, prefix, "schema.table")
}

func (m *MySQLCDC) validate(path, prefix string) error {
	if strings.TrimSpace(m.DSN) == "" {
		return field.Errorf(field.Join(path, "dsn"), "required")
	}
	if m.ServerID == 0 {
		return field.Errorf(field.Join(path, "server_id"), "required: a number above 0, unique among the server's replicas")
	}
	if err := validSnapshot(m.Snapshot); err != nil {
		return field.Wrap(field.Join(path, "snapshot"), err)
	}
	return validTables(field.Join(path, "tables"), m.Tables, prefix, "database.table")
}

func validSnapshot(s string) error {
	if s != "initial" && s != "never" {
		return fmt.Errorf("%q is not initial or never", s)
	}
	return nil
}

// validTables checks the tables' keys (<qualifier>.<table>, plain
// identifiers), that each makes a valid event type under prefix, and their
// excluded columns.
func validTables(path string, tables map[string]*CDCTable, prefix, form string) error {
	if len(tables) == 0 {
		return field.Errorf(path, "at least one table is required, as %s", form)
	}
	if len(tables) > maxCDCTables {
		return field.Errorf(path, "%d tables is more than %d", len(tables), maxCDCTables)
	}
	for _, k := range slices.Sorted(maps.Keys(tables)) {
		p := field.Join(path, k)
		qual, name, ok := strings.Cut(k, ".")
		if !ok {
			return field.Errorf(p, "is declared twice (also as public.%s)", k)
		}
		if !identifier.MatchString(qual) || !identifier.MatchString(name) {
			return field.Errorf(p, "%q must be %s, each a letter or '_' then up to 62 letters, digits or '_'", k, form)
		}
		if err := event.ValidType(prefix + "." + k); err != nil {
			return field.Wrap(p, err)
		}
		t := tables[k]
		if t == nil {
			continue
		}
		if len(t.Columns.Exclude) > maxCDCExclude {
			return field.Errorf(field.Join(p, "columns.exclude"), "more than %d columns", maxCDCExclude)
		}
		for i, col := range t.Columns.Exclude {
			if !identifier.MatchString(col) {
				return field.Errorf(fmt.Sprintf("%s.columns.exclude[%d]", p, i), "%q is not a column name", col)
			}
		}
	}
	return nil
}

// validateCDC checks every cdc source, in name order.
func (c *Config) validateCDC() error {
	for _, name := range slices.Sorted(maps.Keys(c.CDC)) {
		p := "cdc." + name
		if err := ValidCDCName(name); err != nil {
			return field.Wrap(p, err)
		}
		s := c.CDC[name]
		if s == nil {
			return field.Errorf(p, "is empty: give a postgres or a mysql section")
		}
		if err := s.Validate(p); err != nil {
			return err
		}
	}
	return nil
}

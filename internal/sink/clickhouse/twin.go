package clickhouse

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/view"
)

// A view's twin is its copy in ClickHouse, written by the sink from the same
// events and with the same rules as the view on the bus (view.Spec.Extract),
// so that analysts query in SQL what internal UIs read from /v1/views.
//
// A latest view's twin is the table weir_view_<name> (a ReplacingMergeTree
// keyed by the view key, one row per event and deletes as rows with
// deleted = 1) and the plain view weir_view_<name>_current, which reads it
// with FINAL and leaves the deleted keys out.
//
// A count view's twin is the table weir_view_<name>_events (one row per
// event: its bucket, by-values, id and sum value; a ReplacingMergeTree, so a
// redelivered event leaves one row) and the materialized view
// weir_view_<name>, an AggregatingMergeTree of uniqExactState(id) and
// sumState(value) per bucket and by-values.

// Twin table names.
const (
	twinPrefix     = "weir_view_"
	currentSuffix  = "_current"
	countRowSuffix = "_events"
)

// seqBits is how many low bits of a latest twin's version hold the event's
// stream sequence; the bits above hold its time in milliseconds. DateTime
// ends in 2106, so the milliseconds need 42 bits and leave 22.
const seqBits = 22

// twin is the ClickHouse twin of one view, fed by the sink's Write.
type twin struct {
	spec *view.Spec
	// table is weir_view_<name>: the latest view's table, or the count
	// view's materialized view.
	table string
	// byCols (count) are the columns of the by entries, in the config's
	// order; byKeys are their names in view.Change.By.
	byCols, byKeys []string

	// Column buffers reused by each Write (one at a time).
	latest latestRows
	count  countRows
}

// twinsOf builds the twins of the views a sink of spec sees every event of.
func twinsOf(spec *config.Sink, views map[string]*view.Spec) []*twin {
	var out []*twin
	for _, name := range TwinViews(spec, views) {
		v := views[name]
		t := &twin{spec: v, table: twinPrefix + name}
		if v.Config.Kind == config.ViewCount {
			t.byCols = byColumns(v.Config.By)
			for _, b := range v.Config.By {
				t.byKeys = append(t.byKeys, config.ByName(b))
			}
		}
		out = append(out, t)
	}
	return out
}

// TwinViews lists, sorted, the views whose twins a ClickHouse sink of spec
// keeps: those whose every type pattern one of the sink's patterns covers.
// A sink with a filter keeps none, since the filter may drop events the
// view takes and the twin would then count less than the view.
func TwinViews(spec *config.Sink, views map[string]*view.Spec) []string {
	if spec == nil || spec.ClickHouse == nil || strings.TrimSpace(spec.Filter) != "" {
		return nil
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(views)) {
		if v := views[name]; v != nil && covers(spec.Types, v.Config.Types) {
			out = append(out, name)
		}
	}
	return out
}

// covers reports whether every type that one of patterns matches, one of
// sink matches.
func covers(sink, patterns []string) bool {
	for _, p := range patterns {
		if !slices.ContainsFunc(sink, func(s string) bool { return event.CoversPattern(s, p) }) {
			return false
		}
	}
	return len(patterns) > 0
}

// notIdentifier is what byColumns replaces by "_".
var notIdentifier = regexp.MustCompile(`[^A-Za-z0-9_]`)

// countFixed are the columns of a count twin besides its by columns.
var countFixed = []string{"bucket", "id", "value", "events", "sum"}

// byColumns names the columns of a count view's by entries: type and source
// as they are, a pointer as its by name (config.ByName) with every other
// character than letters, digits and _ as _ ("/customer/region" is
// customer_region). A name that another column already has gets the
// entry's position (region_2), so that no two columns collide.
func byColumns(by []string) []string {
	taken := map[string]bool{}
	for _, c := range countFixed {
		taken[c] = true
	}
	out := make([]string, len(by))
	for i, b := range by {
		name := notIdentifier.ReplaceAllString(config.ByName(b), "_")
		if name == "" || name[0] >= '0' && name[0] <= '9' {
			name = "_" + name
		}
		name = name[:min(len(name), 56)]
		for n := i + 1; taken[name]; n++ {
			name = name[:min(len(name), 56)] + "_" + strconv.Itoa(n)
		}
		taken[name] = true
		out[i] = name
	}
	return out
}

// rowsTable is the table the sink inserts into.
func (t *twin) rowsTable() string {
	if t.isLatest() {
		return t.table
	}
	return t.table + countRowSuffix
}

// isLatest reports whether the twin is a latest view's.
func (t *twin) isLatest() bool { return t.spec.Config.Kind == config.ViewLatest }

// latestColumns are a latest twin's columns, in insert order.
var latestColumns = []column{
	{"key", "String"},
	{"time", "DateTime"},
	{"time_ms", "UInt16"},
	{"seq", "UInt64"},
	{"deleted", "UInt8"},
	{"event_id", "String"},
	{"type", "String"},
	{"fields", "String"},
	{"version", "UInt64"},
}

// def is the table the twin's rows go to.
func (t *twin) def() tableDef {
	if t.isLatest() {
		return tableDef{name: t.table, cols: latestColumns, engine: "ReplacingMergeTree(version)", orderBy: "key",
			strict: true, twin: t}
	}
	cols := []column{{"bucket", "DateTime"}}
	for _, c := range t.byCols {
		cols = append(cols, column{c, "String"})
	}
	cols = append(cols, column{"id", "String"}, column{"value", "Float64"})
	return tableDef{name: t.rowsTable(), cols: cols, engine: "ReplacingMergeTree PARTITION BY toYYYYMM(bucket)",
		orderBy: t.groupBy() + ", id", strict: true, twin: t}
}

// groupBy is bucket and the by columns, quoted, as the count twin groups.
func (t *twin) groupBy() string {
	names := []string{"bucket"}
	for _, c := range t.byCols {
		names = append(names, quote(c))
	}
	return strings.Join(names, ", ")
}

// readerDef is what analysts read: the latest twin's plain view
// weir_view_<name>_current, or the count twin's materialized view.
func (t *twin) readerDef() (name, engine string, cols []column) {
	if t.isLatest() {
		return t.table + currentSuffix, "View", nil
	}
	cols = []column{{"bucket", "DateTime"}}
	for _, c := range t.byCols {
		cols = append(cols, column{c, "String"})
	}
	cols = append(cols, column{"events", "AggregateFunction(uniqExact, String)"}, column{"sum", "AggregateFunction(sum, Float64)"})
	return t.table, "MaterializedView", cols
}

// createReader is the DDL of readerDef. populate fills a new materialized
// view from the rows its table already holds (the view was dropped, the
// table kept).
func (s *Sink) createReader(t *twin, populate bool) string {
	name, _, _ := t.readerDef()
	if t.isLatest() {
		cols := make([]string, 0, len(latestColumns))
		for _, c := range latestColumns {
			if c.name != "deleted" && c.name != "version" {
				cols = append(cols, quote(c.name))
			}
		}
		return "CREATE VIEW IF NOT EXISTS " + s.quoted(name) + " AS SELECT " + strings.Join(cols, ", ") +
			" FROM " + s.quoted(t.table) + " FINAL WHERE deleted = 0"
	}
	stmt := "CREATE MATERIALIZED VIEW IF NOT EXISTS " + s.quoted(name) +
		" ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(bucket) ORDER BY (" + t.groupBy() + ")"
	if populate {
		stmt += " POPULATE"
	}
	return stmt + " AS SELECT " + t.groupBy() + ", uniqExactState(id) AS `events`, sumState(value) AS `sum` FROM " +
		s.quoted(t.rowsTable()) + " GROUP BY " + t.groupBy()
}

// dropHint is the SQL that removes the twin, for a refusal's reason.
func (s *Sink) dropHint(t *twin) string {
	name, _, _ := t.readerDef()
	return "DROP TABLE " + s.quoted(name) + "; DROP TABLE " + s.quoted(t.rowsTable())
}

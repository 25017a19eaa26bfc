package clickhouse

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// compareTwin refuses a twin's table that does not hold the view as it is
// declared now: another engine, or columns that differ in any way. Nothing
// is added: a count twin's by columns are its sorting key and its
// materialized view's GROUP BY, which ALTER cannot extend, and a latest
// twin's columns never change.
func (s *Sink) compareTwin(d tableDef, have map[string]existing, engine string) []error {
	table := s.qualified(d.name)
	if !strings.HasSuffix(engine, "ReplacingMergeTree") {
		return []error{&MigrationError{Table: table, Reason: fmt.Sprintf(
			"the table's engine is %s, but the twin of view %s is a ReplacingMergeTree that keeps one row per event after a redelivery; %s",
			engine, d.twin.spec.Name, s.redo(d.twin))}}
	}
	return s.sameColumns(table, d.twin, d.cols, have)
}

// checkReader looks at what analysts read of twin t (the latest twin's plain
// view, the count twin's materialized view): create says it is missing;
// refused lists what is there in its place.
func (s *Sink) checkReader(ctx context.Context, conn driver.Conn, t *twin) (create bool, refused []error, err error) {
	name, want, cols := t.readerDef()
	have, engine, err := s.describe(ctx, conn, name)
	switch {
	case err != nil:
		return false, nil, err
	case engine == "":
		return true, nil, nil
	case engine != want:
		return false, []error{&MigrationError{Table: s.qualified(name), Reason: fmt.Sprintf(
			"is a %s, but weir keeps the twin of view %s here as a %s; rename or drop it and weir creates the twin at the sink's next start",
			engine, t.spec.Name, want)}}, nil
	case cols == nil:
		return false, nil, nil
	}
	return false, s.sameColumns(s.qualified(name), t, cols, have), nil
}

// sameColumns refuses, in one error, a twin object whose columns are not
// exactly cols.
func (s *Sink) sameColumns(table string, t *twin, cols []column, have map[string]existing) []error {
	var diff []string
	want := map[string]bool{}
	for _, c := range cols {
		want[c.name] = true
		switch e, ok := have[c.name]; {
		case !ok:
			diff = append(diff, "no column "+c.name)
		case !sameType(e.typ, c.typ):
			diff = append(diff, fmt.Sprintf("column %s is %s, not %s", c.name, e.typ, c.typ))
		}
	}
	extra := make([]string, 0, len(have))
	for name := range have {
		if !want[name] {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		diff = append(diff, "a column "+name+" the view does not have")
	}
	if len(diff) == 0 {
		return nil
	}
	return []error{&MigrationError{Table: table, Reason: fmt.Sprintf(
		"it holds the twin of view %s as the view was declared before (%s); %s",
		t.spec.Name, strings.Join(diff, ", "), s.redo(t))}}
}

// redo says how to make the twin again, for a refusal's reason.
func (s *Sink) redo(t *twin) string {
	return "weir does not rebuild a table that holds data. Drop the twin (" + s.dropHint(t) +
		") and weir creates it again at the sink's next start; replay the sink to fill it from the events the bus still holds"
}

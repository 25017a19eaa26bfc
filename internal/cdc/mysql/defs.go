package mysql

import (
	"context"
	"strings"
)

// Which columns a row event's bytes stand for.
//
// A TABLE_MAP event with column names (binlog_row_metadata=FULL) says it
// itself: the rows are decoded with the columns they were written with
// (fromMap), and the catalog only adds the SQL type names and JSON columns.
// Without names, only the catalog, which describes the table as it is now,
// can say; rows written before an ALTER TABLE that the reader had not read
// yet are then named after today's columns (see the MariaDB setup in
// docs/cdc.md).
//
// The catalog of every captured table is read when the stream starts, and
// read again after DDL in the binlog, when the table's next rows need it.

// loadCatalog reads the catalog of every captured table.
func (r *Reader) loadCatalog(ctx context.Context) error {
	clear(r.catalog)
	for k := range r.spec.Tables {
		db, name, _ := strings.Cut(k, ".")
		if _, err := r.catalogTable(ctx, db, name); err != nil {
			return err
		}
	}
	return nil
}

// forgetDefs drops what the reader knows of every table after DDL.
func (r *Reader) forgetDefs() {
	clear(r.catalog)
	clear(r.defs)
}

// catalogTable is a table as information_schema describes it (nil when it
// does not exist), read once until forgetDefs.
func (r *Reader) catalogTable(ctx context.Context, db, name string) (*table, error) {
	k := db + "." + name
	if t, ok := r.catalog[k]; ok {
		return t, nil
	}
	t, err := loadTable(ctx, r.db, db, name, r.exclude(k))
	if err != nil {
		return nil, err
	}
	r.catalog[k] = t
	return t, nil
}

func (r *Reader) exclude(k string) []string {
	if ct := r.spec.Tables[k]; ct != nil {
		return ct.Columns.Exclude
	}
	return nil
}

// mapDef returns the columns of the rows that follow tm: from its own
// metadata when it names the columns, else from the catalog. nil: the
// catalog no longer has the table, and the binlog does not say enough.
func (r *Reader) mapDef(ctx context.Context, tm *tableMap) (*table, error) {
	if tm.Names == nil {
		return r.tableDef(ctx, tm.DB, tm.Name, len(tm.Types))
	}
	k := tm.DB + "." + tm.Name
	if t := r.defs[k]; t != nil && t.mapShape == tm.shape {
		return t, nil
	}
	cat, err := r.catalogTable(ctx, tm.DB, tm.Name)
	if err != nil {
		return nil, err
	}
	t := fromMap(tm, cat, r.exclude(k))
	t.mapShape = tm.shape
	return t, r.use(ctx, k, t)
}

// tableDef returns a captured table's columns from the catalog: as cached
// unless the binlog shows another column count (cols -1: any), in which case
// the catalog is read again.
func (r *Reader) tableDef(ctx context.Context, db, name string, cols int) (*table, error) {
	k := db + "." + name
	if t := r.defs[k]; t != nil && t.mapShape == "" && (cols < 0 || len(t.Columns) == cols) {
		return t, nil
	}
	t, err := r.catalogTable(ctx, db, name)
	if err == nil && t != nil && cols >= 0 && len(t.Columns) != cols {
		delete(r.catalog, k)
		t, err = r.catalogTable(ctx, db, name)
	}
	if err != nil || t == nil {
		return nil, err
	}
	if cols >= 0 && len(t.Columns) > cols {
		// The binlog is older than a column added since: columns are added
		// at the end (ADD COLUMN without FIRST or AFTER), so the binlog's
		// are the first ones.
		t = t.prefix(cols)
	}
	return t, r.use(ctx, k, t)
}

// use makes t the table's columns and tells the emitter of a new shape
// before its first change.
func (r *Reader) use(ctx context.Context, k string, t *table) error {
	r.defs[k] = t
	if sameShape(r.shapes[k], t.Shape) {
		return nil
	}
	if err := r.emitter.TableChanged(ctx, t.Shape); err != nil {
		return err
	}
	r.shapes[k] = t.Shape
	return nil
}

package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/weir-dev/weir/internal/cdc"
)

// relation is a captured table as the reader decodes it: every column the
// database sends, in order, with what weir keeps of it.
type relation struct {
	oid     uint32
	schema  string
	name    string
	cols    []relColumn
	keyIdx  []int // indexes into cols of the primary key, in key order
	table   *cdc.Table
	exclude map[string]bool
}

// relColumn is one column of a relation.
type relColumn struct {
	name     string
	typeOID  uint32
	typeName string // pg_type.typname: "int4", "_text"
	sqlType  string // format_type: "integer", for casts in snapshot queries
	excluded bool
	key      bool
}

// qualified is schema.table.
func (r *relation) qualified() string { return r.schema + "." + r.name }

// quoted is "schema"."table" for SQL.
func (r *relation) quoted() string { return quoteIdent(r.schema) + "." + quoteIdent(r.name) }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// splitTable splits "schema.table" (schema defaults to public).
func splitTable(s string) (schema, name string) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "public", s
}

// catalogColumn is what pg_attribute and pg_index say of a column.
type catalogColumn struct {
	typeName, sqlType string
	typeOID           uint32
	notNull           bool
	keyPos            int // position in the primary key, 0 when not in it
}

// loadCatalog reads a table's columns from the catalog: names in order, type,
// not-null and primary-key position.
func loadCatalog(ctx context.Context, db *pgxpool.Pool, schema, name string) (oid uint32, names []string, cols map[string]catalogColumn, err error) {
	rows, err := db.Query(ctx, `
SELECT c.oid, a.attname, t.typname, format_type(a.atttypid, a.atttypmod), a.atttypid, a.attnotnull,
       coalesce(array_position(i.indkey::int2[], a.attnum) - array_lower(i.indkey::int2[], 1) + 1, 0) -- int2vector counts from 0
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE n.nspname = $1 AND c.relname = $2
ORDER BY a.attnum`, schema, name)
	if err != nil {
		return 0, nil, nil, err
	}
	defer rows.Close()
	cols = map[string]catalogColumn{}
	for rows.Next() {
		var col string
		var c catalogColumn
		var keyPos int32
		if err := rows.Scan(&oid, &col, &c.typeName, &c.sqlType, &c.typeOID, &c.notNull, &keyPos); err != nil {
			return 0, nil, nil, err
		}
		c.keyPos = int(keyPos)
		names = append(names, col)
		cols[col] = c
	}
	if err := rows.Err(); err != nil {
		return 0, nil, nil, err
	}
	if len(names) == 0 {
		return 0, nil, nil, fmt.Errorf("%w: %s.%s", ErrNoTable, schema, name)
	}
	return oid, names, cols, nil
}

// buildRelation makes a relation from the column names and types the
// database sends (a relation message, or the catalog for a snapshot) and the
// catalog's not-null and key facts. keyFlags are the relation message's
// replica-identity flags, used when the table has no primary key.
func buildRelation(oid uint32, schema, name string, names []string, typeOIDs []uint32, keyFlags []bool, cat map[string]catalogColumn, exclude map[string]bool) *relation {
	r := &relation{oid: oid, schema: schema, name: name, exclude: exclude}
	t := &cdc.Table{Schema: schema, Name: name}
	type kp struct{ pos, idx int }
	var keys []kp
	for i, n := range names {
		c := relColumn{name: n, typeOID: typeOIDs[i], excluded: exclude[n]}
		cc, ok := cat[n]
		if ok {
			c.typeName, c.sqlType = cc.typeName, cc.sqlType
			if cc.typeOID != c.typeOID { // the catalog moved on; the message wins
				c.typeName, c.sqlType = typeName(c.typeOID), ""
			}
			if cc.keyPos > 0 {
				keys = append(keys, kp{cc.keyPos, i})
			}
		} else {
			c.typeName = typeName(c.typeOID)
		}
		r.cols = append(r.cols, c)
	}
	if len(keys) == 0 {
		for i, k := range keyFlags {
			if k {
				keys = append(keys, kp{i + 1, i})
			}
		}
	}
	slices.SortFunc(keys, func(a, b kp) int { return a.pos - b.pos })
	for _, k := range keys {
		r.cols[k.idx].key = true
		if !r.cols[k.idx].excluded {
			r.keyIdx = append(r.keyIdx, k.idx)
		}
	}
	for i, c := range r.cols {
		if c.excluded {
			continue
		}
		t.Columns = append(t.Columns, cdc.Column{Name: c.name, Type: c.typeName, Key: c.key, NotNull: cat[names[i]].notNull || c.key})
	}
	r.table = t
	return r
}

// sameShape reports whether two tables have the same columns.
func sameShape(a, b *cdc.Table) bool {
	return a != nil && b != nil && a.Schema == b.Schema && a.Name == b.Name && slices.Equal(a.Columns, b.Columns)
}

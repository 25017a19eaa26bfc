package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/weir-dev/weir/internal/cdc"
)

// column is what the reader knows of one column beyond the binlog's type.
type column struct {
	Name     string
	DataType string // information_schema DATA_TYPE: int, varchar, enum ...
	Unsigned bool
	Binary   bool     // binary, varbinary, blob types: base64
	JSON     bool     // MariaDB's json (longtext checked by json_valid)
	Elems    []string // enum and set members
	Latin1   bool     // latin1 text (MySQL's latin1 is cp1252), turned into UTF-8
	Key      bool
	NotNull  bool
	Excluded bool // kept out of events
}

// table is a captured table's columns and the contract shape sent to the
// emitter (without excluded columns).
type table struct {
	DB, Name string
	Columns  []*column
	Keys     []int // positions of the key columns, in key order
	Shape    *cdc.Table
	// mapShape is the TABLE_MAP shape (tableMap.shape) the columns were
	// built from; empty when they come from the catalog alone.
	mapShape string
}

// loadTable reads a table's columns from information_schema. A table that
// does not exist gives a nil table and no error.
//
// It asks three questions, each of one information_schema table with the
// schema and table name as plain equalities, rather than one join: MariaDB
// answers such a question by opening that one table, whereas the join (with
// the key and check-constraint lookups as a correlated subquery) made it
// read the whole catalog: 260 ms on an idle test server with a few tables,
// against 1.5 ms for the three questions, and the binlog stream waited that
// long at the first change of each table.
func loadTable(ctx context.Context, db *sql.DB, schema, name string, exclude []string) (*table, error) {
	fail := func(err error) (*table, error) {
		return nil, fmt.Errorf("mysql: columns of %s.%s: %w", schema, name, err)
	}
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COALESCE(CHARACTER_SET_NAME, '')
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, schema, name)
	if err != nil {
		return fail(err)
	}
	t := &table{DB: schema, Name: name}
	for rows.Next() {
		var c column
		var colType, nullable, charset string
		if err := rows.Scan(&c.Name, &c.DataType, &colType, &nullable, &charset); err != nil {
			rows.Close()
			return fail(err)
		}
		c.DataType = strings.ToLower(c.DataType)
		c.Unsigned = strings.Contains(strings.ToLower(colType), "unsigned")
		c.NotNull = nullable == "NO"
		c.Latin1 = charset == "latin1"
		c.JSON = c.DataType == "json"
		switch c.DataType {
		case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry", "point", "linestring", "polygon":
			c.Binary = true
		case "enum", "set":
			c.Elems = parseElems(colType)
		}
		c.Excluded = excluded(exclude, c.Name)
		t.Columns = append(t.Columns, &c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	if len(t.Columns) == 0 {
		return nil, nil
	}
	keys, err := queryStrings(ctx, db, `SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`, schema, name)
	if err != nil {
		return fail(err)
	}
	for _, k := range keys {
		if i := t.column(k); i >= 0 {
			t.Columns[i].Key = true
			t.Keys = append(t.Keys, i)
		}
	}
	// MariaDB's JSON is LONGTEXT with a json_valid check on the column
	checks, err := queryStrings(ctx, db, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, schema, name)
	if err != nil {
		return fail(err)
	}
	for _, c := range t.Columns {
		c.JSON = c.JSON || slices.ContainsFunc(checks, func(clause string) bool { return isJSONValid(clause, c.Name) })
	}
	t.Shape = t.shape()
	return t, nil
}

// isJSONValid reports whether a check clause is json_valid(`name`).
func isJSONValid(clause, name string) bool {
	const open = "json_valid("
	if len(clause) != len(open)+len(name)+3 || !strings.EqualFold(clause[:len(open)], open) || !strings.HasSuffix(clause, ")") {
		return false
	}
	return strings.EqualFold(clause[len(open)+1:len(clause)-2], name)
}

func queryStrings(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func excluded(exclude []string, name string) bool {
	return slices.ContainsFunc(exclude, func(x string) bool { return strings.EqualFold(x, name) })
}

// column is the position of the named column (names are case-insensitive
// in MariaDB), or -1.
func (t *table) column(name string) int {
	return slices.IndexFunc(t.Columns, func(c *column) bool { return strings.EqualFold(c.Name, name) })
}

// shape is the contract shape of the table's columns, without excluded
// ones.
func (t *table) shape() *cdc.Table {
	s := &cdc.Table{Schema: t.DB, Name: t.Name}
	for _, c := range t.Columns {
		if !c.Excluded {
			s.Columns = append(s.Columns, shapeColumn(c))
		}
	}
	return s
}

func shapeColumn(c *column) cdc.Column {
	typ := c.DataType
	if c.JSON {
		typ = "json"
	}
	return cdc.Column{Name: c.Name, Type: typ, Key: c.Key, NotNull: c.NotNull}
}

// prefix is the table with its first n columns only.
func (t *table) prefix(n int) *table {
	p := &table{DB: t.DB, Name: t.Name, Columns: t.Columns[:n]}
	for _, k := range t.Keys {
		if k < n {
			p.Keys = append(p.Keys, k)
		}
	}
	p.Shape = p.shape()
	return p
}

// parseElems reads the members of enum('a','b”c') or set(...).
func parseElems(colType string) []string {
	open := strings.IndexByte(colType, '(')
	if open < 0 || !strings.HasSuffix(colType, ")") {
		return nil
	}
	s := colType[open+1 : len(colType)-1]
	var out []string
	for len(s) > 0 && s[0] == '\'' {
		var b strings.Builder
		i := 1
		for i < len(s) {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				break
			}
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
			i++
		}
		out = append(out, b.String())
		s = strings.TrimPrefix(s[min(i+1, len(s)):], ",")
	}
	return out
}

// sameShape reports whether two shapes are the same for a contract.
func sameShape(a, b *cdc.Table) bool {
	if a == nil || b == nil || len(a.Columns) != len(b.Columns) {
		return false
	}
	for i := range a.Columns {
		if a.Columns[i] != b.Columns[i] {
			return false
		}
	}
	return true
}

// fromMap builds the columns of the rows that follow a TABLE_MAP event that
// carries column names (binlog_row_metadata=FULL), so that rows written
// before an ALTER TABLE are named as they were written, whatever the
// catalog says now. What the event says wins: names, nullability,
// signedness, enum and set members, character sets and the primary key.
// The catalog's column of the same name (cat, the table as it is now; nil
// when it is gone) adds what the binlog does not say, the SQL type's name
// and whether a text column holds JSON, when its type still matches the
// binlog's.
func fromMap(tm *tableMap, cat *table, exclude []string) *table {
	t := &table{DB: tm.DB, Name: tm.Name}
	for i := range tm.Types {
		c := &column{}
		if i < len(tm.Names) {
			c.Name = tm.Names[i]
		}
		derived := binlogTypeName(tm, i)
		if cat != nil {
			if k := cat.column(c.Name); k >= 0 && sameFamily(cat.Columns[k].DataType, derived) {
				*c = *cat.Columns[k]
				c.Name = tm.Names[i]
				c.Key = false
			}
		}
		if c.DataType == "" {
			c.DataType = derived
			c.Binary = isBinaryType(derived)
		}
		if tm.Nullable != nil {
			c.NotNull = !tm.Nullable[i]
		}
		if tm.Unsigned != nil && tm.isNumeric(i) {
			c.Unsigned = tm.Unsigned[i]
		}
		if tm.Charsets != nil && tm.Charsets[i] != 0 {
			c.Latin1 = isLatin1(tm.Charsets[i])
			if tm.isCharacter(i) {
				c.Binary = tm.Charsets[i] == collationBinary
			}
		}
		if tm.Elems != nil && tm.Elems[i] != nil {
			c.Elems = make([]string, len(tm.Elems[i]))
			for k, e := range tm.Elems[i] {
				c.Elems[k] = c.text(e)
			}
		}
		c.Excluded = excluded(exclude, c.Name)
		t.Columns = append(t.Columns, c)
	}
	keys := tm.Keys
	if !tm.HasKeys && cat != nil {
		// not logged: the catalog's key, by name
		keys = nil
		for _, k := range cat.Keys {
			if i := t.column(cat.Columns[k].Name); i >= 0 {
				keys = append(keys, i)
			}
		}
	}
	for _, k := range keys {
		if k < len(t.Columns) {
			t.Columns[k].Key = true
			t.Keys = append(t.Keys, k)
		}
	}
	t.Shape = t.shape()
	return t
}

// collationBinary is the id of the binary character set's collation.
const collationBinary = 63

// isLatin1 tells MariaDB's latin1 collations (MySQL's latin1 is cp1252).
func isLatin1(coll uint64) bool {
	switch coll {
	case 5, 8, 15, 31, 47, 48, 49, 94, 1032, 1071: // information_schema.COLLATIONS of MariaDB 10.11
		return true
	}
	return false
}

// text is an enum or set member in the column's character set as UTF-8.
func (c *column) text(b []byte) string {
	if s, ok := c.bytesValue(b).(string); ok && !c.Binary {
		return s
	}
	return string(b)
}

// binlogTypeName is the SQL type a binlog column stands for, as
// information_schema's DATA_TYPE names it, for a column the catalog no
// longer has.
func binlogTypeName(tm *tableMap, i int) string {
	binary := tm.Charsets != nil && tm.Charsets[i] == collationBinary
	text := func(bin, txt string) string {
		if binary {
			return bin
		}
		return txt
	}
	switch tm.realType(i) {
	case tTiny:
		return "tinyint"
	case tShort:
		return "smallint"
	case tInt24:
		return "mediumint"
	case tLong:
		return "int"
	case tLongLong:
		return "bigint"
	case tFloat:
		return "float"
	case tDouble:
		return "double"
	case tDecimal, tNewDecimal:
		return "decimal"
	case tYear:
		return "year"
	case tBit:
		return "bit"
	case tDate, tNewDate:
		return "date"
	case tTime, tTime2:
		return "time"
	case tDatetime, tDatetime2:
		return "datetime"
	case tTimestamp, tTimestamp2:
		return "timestamp"
	case tVarchar, tVarString:
		return text("varbinary", "varchar")
	case tString:
		return text("binary", "char")
	case tEnum:
		return "enum"
	case tSet:
		return "set"
	case tBlob, tTinyBlob, tMediumBlob, tLongBlob:
		size := map[uint16]string{1: "tiny", 2: "", 3: "medium", 4: "long"}[tm.Meta[i]]
		return size + text("blob", "text")
	case tGeometry:
		return "geometry"
	case tJSON:
		return "json"
	}
	return "unknown"
}

func isBinaryType(dataType string) bool {
	switch dataType {
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry":
		return true
	}
	return false
}

// sameFamily reports whether a catalog column's DATA_TYPE can be the
// column the binlog describes as derived (binlogTypeName): the same
// storage, so that the catalog's details apply to the binlog's bytes.
// Types weir does not know (MariaDB's uuid, inet6 ...) match anything.
func sameFamily(dataType, derived string) bool {
	family := func(s string) string {
		switch s {
		case "varchar", "varbinary":
			return "var"
		case "char", "binary":
			return "fixed"
		case "tinyblob", "blob", "mediumblob", "longblob", "tinytext", "text", "mediumtext", "longtext", "json":
			return "blob"
		case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
			return "geometry"
		case "tinyint", "smallint", "mediumint", "int", "bigint", "float", "double", "decimal", "year", "bit",
			"date", "time", "datetime", "timestamp", "enum", "set":
			return s
		}
		return ""
	}
	f := family(dataType)
	return f == "" || f == family(derived)
}

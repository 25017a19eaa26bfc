package mysql

import (
	"context"
	"database/sql"
	"fmt"
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
}

// loadTable reads a table's columns from information_schema. A table that
// does not exist gives a nil table and no error.
func loadTable(ctx context.Context, db *sql.DB, schema, name string, exclude []string) (*table, error) {
	rows, err := db.QueryContext(ctx, `SELECT c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.IS_NULLABLE, COALESCE(c.CHARACTER_SET_NAME, ''),
  COALESCE(k.ORDINAL_POSITION, 0),
  EXISTS(SELECT 1 FROM information_schema.CHECK_CONSTRAINTS cc WHERE cc.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA
    AND cc.TABLE_NAME = c.TABLE_NAME AND cc.CHECK_CLAUSE LIKE CONCAT('json\_valid(_', c.COLUMN_NAME, '_)'))
FROM information_schema.COLUMNS c
LEFT JOIN information_schema.KEY_COLUMN_USAGE k ON k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME
  AND k.COLUMN_NAME = c.COLUMN_NAME AND k.CONSTRAINT_NAME = 'PRIMARY'
WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ?
ORDER BY c.ORDINAL_POSITION`, schema, name)
	if err != nil {
		return nil, fmt.Errorf("mysql: columns of %s.%s: %w", schema, name, err)
	}
	defer rows.Close()
	t := &table{DB: schema, Name: name}
	keyOrder := map[int]int{}
	for rows.Next() {
		var c column
		var colType, nullable, charset string
		var keyPos int
		var isJSON bool
		if err := rows.Scan(&c.Name, &c.DataType, &colType, &nullable, &charset, &keyPos, &isJSON); err != nil {
			return nil, err
		}
		c.DataType = strings.ToLower(c.DataType)
		c.Unsigned = strings.Contains(strings.ToLower(colType), "unsigned")
		c.NotNull = nullable == "NO"
		c.Latin1 = charset == "latin1"
		c.JSON = isJSON || c.DataType == "json"
		switch c.DataType {
		case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry", "point", "linestring", "polygon":
			c.Binary = true
		case "enum", "set":
			c.Elems = parseElems(colType)
		}
		if keyPos > 0 {
			c.Key = true
			keyOrder[keyPos] = len(t.Columns)
		}
		for _, x := range exclude {
			if strings.EqualFold(x, c.Name) {
				c.Excluded = true
			}
		}
		t.Columns = append(t.Columns, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(t.Columns) == 0 {
		return nil, nil
	}
	for i := 1; i <= len(keyOrder); i++ {
		t.Keys = append(t.Keys, keyOrder[i])
	}
	t.Shape = &cdc.Table{Schema: schema, Name: name}
	for _, c := range t.Columns {
		if c.Excluded {
			continue
		}
		t.Shape.Columns = append(t.Shape.Columns, shapeColumn(c))
	}
	return t, nil
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
	p := &table{DB: t.DB, Name: t.Name, Columns: t.Columns[:n], Shape: &cdc.Table{Schema: t.DB, Name: t.Name}}
	for _, k := range t.Keys {
		if k < n {
			p.Keys = append(p.Keys, k)
		}
	}
	for _, c := range p.Columns {
		if !c.Excluded {
			p.Shape.Columns = append(p.Shape.Columns, shapeColumn(c))
		}
	}
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

package mysql

import (
	"encoding/binary"
	"fmt"
)

// tableMap is a TABLE_MAP event: the table an id stands for in the row
// events that follow, its columns' binlog types, and what the optional
// metadata says of them.
//
// MariaDB 10.5+ writes optional metadata after the null bitmap:
// binlog_row_metadata=MINIMAL gives signedness and character sets, FULL
// adds column names, enum and set members and the primary key. With names,
// the reader decodes rows with the columns they were written with, even
// when the table was altered since (see table.fromMap); without them, it
// can only read the table's current definition.
type tableMap struct {
	ID       uint64
	DB, Name string
	Types    []byte
	Meta     []uint16
	Nullable []bool

	// Names are the column names (COLUMN_NAME), nil when not logged.
	Names []string
	// Unsigned tells, per column, whether a numeric column is unsigned
	// (SIGNEDNESS); nil when not logged.
	Unsigned []bool
	// Charsets are the collation ids of character, enum and set columns
	// (DEFAULT_CHARSET, COLUMN_CHARSET and their ENUM_AND_SET forms); 0
	// where unknown; nil when none was logged.
	Charsets []uint64
	// Elems are the members of enum and set columns (ENUM_STR_VALUE,
	// SET_STR_VALUE), as the server sent them (in the column's character
	// set); nil when not logged.
	Elems [][][]byte
	// Keys are the positions of the primary key's columns in key order
	// (SIMPLE_PRIMARY_KEY, PRIMARY_KEY_WITH_PREFIX); HasKeys is false when
	// neither was logged.
	Keys    []int
	HasKeys bool

	// shape is the event from the column count on: two maps with the same
	// shape describe the same columns.
	shape string
}

// Optional metadata field types of a TABLE_MAP event.
const (
	metaSignedness        = 1
	metaDefaultCharset    = 2
	metaColumnCharset     = 3
	metaColumnName        = 4
	metaSetStrValue       = 5
	metaEnumStrValue      = 6
	metaGeometryType      = 7
	metaSimplePrimaryKey  = 8
	metaPrimaryKeyPrefix  = 9
	metaEnumSetDefCharset = 10
	metaEnumSetColCharset = 11
)

func parseTableMap(body []byte) (*tableMap, error) {
	if len(body) < 8+2 {
		return nil, errMalformed
	}
	t := &tableMap{ID: le48(body)}
	b := body[8:]
	var ok bool
	if t.DB, b, ok = lenString(b); !ok {
		return nil, errMalformed
	}
	if t.Name, b, ok = lenString(b); !ok {
		return nil, errMalformed
	}
	t.shape = string(b)
	n, b, ok := lenEncInt(b)
	if !ok || uint64(len(b)) < n {
		return nil, errMalformed
	}
	t.Types = append([]byte{}, b[:n]...)
	b = b[n:]
	ml, b, ok := lenEncInt(b)
	if !ok || uint64(len(b)) < ml {
		return nil, errMalformed
	}
	meta := b[:ml]
	b = b[ml:]
	t.Meta = make([]uint16, n)
	for i, typ := range t.Types {
		switch typ {
		case tFloat, tDouble, tBlob, tGeometry, tJSON, tTimestamp2, tDatetime2, tTime2:
			if len(meta) < 1 {
				return nil, errMalformed
			}
			t.Meta[i], meta = uint16(meta[0]), meta[1:]
		case tVarchar, tBit, tNewDecimal, tVarString, tString, tEnum, tSet:
			if len(meta) < 2 {
				return nil, errMalformed
			}
			if typ == tVarchar || typ == tVarString {
				t.Meta[i] = binary.LittleEndian.Uint16(meta)
			} else {
				t.Meta[i] = uint16(meta[0])<<8 | uint16(meta[1])
			}
			meta = meta[2:]
		}
	}
	nb := (len(t.Types) + 7) / 8
	if len(b) < nb {
		// servers before MySQL 5.1.x may end here; nothing more to learn
		return t, nil
	}
	t.Nullable = make([]bool, len(t.Types))
	for i := range t.Types {
		t.Nullable[i] = bitSet(b, i)
	}
	if err := t.parseOptional(b[nb:]); err != nil {
		return nil, fmt.Errorf("table map of %s.%s: %w", t.DB, t.Name, err)
	}
	return t, nil
}

// parseOptional reads the optional metadata fields: type, length, value.
// Fields weir does not use (the geometry type, later additions) are
// skipped.
func (t *tableMap) parseOptional(b []byte) error {
	for len(b) > 0 {
		typ := b[0]
		l, rest, ok := lenEncInt(b[1:])
		if !ok || uint64(len(rest)) < l {
			return errMalformed
		}
		v := rest[:l]
		b = rest[l:]
		var err error
		switch typ {
		case metaSignedness:
			err = t.signedness(v)
		case metaDefaultCharset:
			err = t.defaultCharset(v, t.isCharacter)
		case metaColumnCharset:
			err = t.columnCharset(v, t.isCharacter)
		case metaEnumSetDefCharset:
			err = t.defaultCharset(v, t.isEnumOrSet)
		case metaEnumSetColCharset:
			err = t.columnCharset(v, t.isEnumOrSet)
		case metaColumnName:
			err = t.columnNames(v)
		case metaSetStrValue:
			err = t.strValues(v, tSet)
		case metaEnumStrValue:
			err = t.strValues(v, tEnum)
		case metaSimplePrimaryKey:
			err = t.primaryKey(v, false)
		case metaPrimaryKeyPrefix:
			err = t.primaryKey(v, true)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// realType is a column's type with enum and set told apart from strings
// (the binlog writes both as MYSQL_TYPE_STRING with the real type in the
// metadata).
func (t *tableMap) realType(i int) byte {
	typ := t.Types[i]
	if typ == tString {
		if real := byte(t.Meta[i] >> 8); real == tEnum || real == tSet {
			return real
		}
	}
	return typ
}

// isNumeric tells the columns SIGNEDNESS has a bit for. MariaDB gives one
// to every numeric field, YEAR included (MySQL does not count YEAR; weir
// reads MariaDB's binlog).
func (t *tableMap) isNumeric(i int) bool {
	switch t.Types[i] {
	case tTiny, tShort, tInt24, tLong, tLongLong, tFloat, tDouble, tNewDecimal, tDecimal, tYear:
		return true
	}
	return false
}

// isCharacter tells the columns DEFAULT_CHARSET and COLUMN_CHARSET count:
// MariaDB's string, text, blob and geometry columns (binary ones have
// collation 63), not enum and set.
func (t *tableMap) isCharacter(i int) bool {
	switch t.realType(i) {
	case tVarchar, tVarString, tString, tBlob, tTinyBlob, tMediumBlob, tLongBlob, tGeometry:
		return true
	}
	return false
}

func (t *tableMap) isEnumOrSet(i int) bool {
	r := t.realType(i)
	return r == tEnum || r == tSet
}

func (t *tableMap) signedness(v []byte) error {
	t.Unsigned = make([]bool, len(t.Types))
	k := 0
	for i := range t.Types {
		if !t.isNumeric(i) {
			continue
		}
		if k/8 >= len(v) {
			return fmt.Errorf("%w: signedness of %d numeric columns in %d bytes", errMalformed, k+1, len(v))
		}
		t.Unsigned[i] = v[k/8]&(0x80>>(k%8)) != 0
		k++
	}
	return nil
}

// columns lists the positions of the columns that pick says a field
// counts.
func (t *tableMap) columns(pick func(int) bool) []int {
	var out []int
	for i := range t.Types {
		if pick(i) {
			out = append(out, i)
		}
	}
	return out
}

func (t *tableMap) charsets() []uint64 {
	if t.Charsets == nil {
		t.Charsets = make([]uint64, len(t.Types))
	}
	return t.Charsets
}

// defaultCharset reads a default collation and (index among the counted
// columns, collation) pairs for those that differ.
func (t *tableMap) defaultCharset(v []byte, pick func(int) bool) error {
	cols := t.columns(pick)
	def, v, ok := lenEncInt(v)
	if !ok {
		return errMalformed
	}
	cs := t.charsets()
	for _, i := range cols {
		cs[i] = def
	}
	for len(v) > 0 {
		var idx, coll uint64
		if idx, v, ok = lenEncInt(v); !ok {
			return errMalformed
		}
		if coll, v, ok = lenEncInt(v); !ok {
			return errMalformed
		}
		if idx >= uint64(len(cols)) {
			return fmt.Errorf("%w: charset of column %d of %d", errMalformed, idx, len(cols))
		}
		cs[cols[idx]] = coll
	}
	return nil
}

// columnCharset reads one collation per counted column.
func (t *tableMap) columnCharset(v []byte, pick func(int) bool) error {
	cs := t.charsets()
	for _, i := range t.columns(pick) {
		coll, rest, ok := lenEncInt(v)
		if !ok {
			return fmt.Errorf("%w: fewer column charsets than columns", errMalformed)
		}
		cs[i], v = coll, rest
	}
	return nil
}

func (t *tableMap) columnNames(v []byte) error {
	names := make([]string, 0, len(t.Types))
	for range t.Types {
		s, rest, ok := lenEncBytes(v)
		if !ok {
			return fmt.Errorf("%w: %d column names for %d columns", errMalformed, len(names), len(t.Types))
		}
		names = append(names, string(s))
		v = rest
	}
	t.Names = names
	return nil
}

// strValues reads the members of every enum (or set) column: a count, then
// each member's length and bytes.
func (t *tableMap) strValues(v []byte, real byte) error {
	if t.Elems == nil {
		t.Elems = make([][][]byte, len(t.Types))
	}
	for i := range t.Types {
		if t.realType(i) != real {
			continue
		}
		n, rest, ok := lenEncInt(v)
		// each member takes at least its length byte: a count past what is
		// left is malformed, and is not allocated
		if !ok || n > uint64(len(rest)) {
			return fmt.Errorf("%w: enum or set members of column %d", errMalformed, i)
		}
		v = rest
		elems := make([][]byte, 0, n)
		for range n {
			s, rest, ok := lenEncBytes(v)
			if !ok {
				return fmt.Errorf("%w: enum or set members of column %d", errMalformed, i)
			}
			elems = append(elems, s)
			v = rest
		}
		t.Elems[i] = elems
	}
	return nil
}

// primaryKey reads the key's column positions, each followed by a prefix
// length in PRIMARY_KEY_WITH_PREFIX.
func (t *tableMap) primaryKey(v []byte, withPrefix bool) error {
	t.HasKeys = true
	for len(v) > 0 {
		i, rest, ok := lenEncInt(v)
		if !ok || i >= uint64(len(t.Types)) {
			return fmt.Errorf("%w: primary key column", errMalformed)
		}
		v = rest
		if withPrefix {
			if _, v, ok = lenEncInt(v); !ok {
				return fmt.Errorf("%w: primary key prefix", errMalformed)
			}
		}
		t.Keys = append(t.Keys, int(i))
	}
	return nil
}

// lenEncBytes reads a length-encoded string.
func lenEncBytes(b []byte) ([]byte, []byte, bool) {
	n, b, ok := lenEncInt(b)
	if !ok || uint64(len(b)) < n {
		return nil, nil, false
	}
	return b[:n], b[n:], true
}

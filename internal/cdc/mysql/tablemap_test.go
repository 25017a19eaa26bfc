package mysql

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The files in testdata/tablemap are TABLE_MAP event bodies (without the
// common header and the checksum) that MariaDB 10.11 wrote for these tables,
// on a server whose default character set is latin1:
//
//	full_t1 (binlog_row_metadata=FULL):
//	  CREATE TABLE t1 (id INT UNSIGNED NOT NULL, k2 VARCHAR(10) NOT NULL,
//	    ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT UNSIGNED, mi MEDIUMINT, bi BIGINT UNSIGNED,
//	    f FLOAT, d DOUBLE UNSIGNED, dec1 DECIMAL(10,2) UNSIGNED, y YEAR, b BIT(5),
//	    c CHAR(3) CHARACTER SET latin1, vc VARCHAR(30), vb VARBINARY(20), bl BLOB, tx TEXT CHARACTER SET latin1,
//	    e ENUM('a','b''c','d'), s SET('x','y','z') CHARACTER SET latin1,
//	    dt DATETIME(3), ts TIMESTAMP(6) NULL, tm TIME, da DATE, j JSON, g POINT, bool1 BOOL,
//	    PRIMARY KEY (k2(3), id))
//	full_t2 (FULL): CREATE TABLE t2 (id BIGINT PRIMARY KEY, at BIGINT NOT NULL, note VARCHAR(20))
//	full_t3 (FULL), minimal_t3 (MINIMAL):
//	  CREATE TABLE t3 (a INT, b VARCHAR(5) CHARACTER SET utf8mb4, g GEOMETRY, c TEXT CHARACTER SET latin1,
//	    y YEAR, n SMALLINT, e ENUM('é','b') CHARACTER SET latin1, s SET('ü','v') CHARACTER SET utf8mb4,
//	    bn BINARY(4)) DEFAULT CHARSET=utf8mb4
//	full_t4 (FULL): CREATE TABLE t4 (id INT NOT NULL, note VARCHAR(10), PRIMARY KEY(id))
//	nolog_t2 (NO_LOG, MariaDB's default): t2 above
//
// They are also the seeds of FuzzTableMap.

func readTableMap(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "tablemap", name+".hex"))
	require.NoError(t, err)
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	require.NoError(t, err)
	return b
}

// Collation ids of the test tables' columns.
const (
	collLatin1  = 8  // latin1_swedish_ci
	collUTF8MB4 = 45 // utf8mb4_general_ci
	collUTF8Bin = 46 // utf8mb4_bin (MariaDB's JSON)
	collBinary  = 63
)

func TestParseTableMapFull(t *testing.T) {
	t.Parallel()
	tm, err := parseTableMap(readTableMap(t, "full_t1"))
	require.NoError(t, err)
	require.Equal(t, "shop", tm.DB)
	require.Equal(t, "t1", tm.Name)
	require.Equal(t, []string{"id", "k2", "ti", "tu", "si", "mi", "bi", "f", "d", "dec1", "y", "b", "c", "vc", "vb", "bl", "tx",
		"e", "s", "dt", "ts", "tm", "da", "j", "g", "bool1"}, tm.Names)
	unsigned := map[string]bool{"id": true, "tu": true, "si": true, "bi": true, "d": true, "dec1": true,
		"y": true} // MariaDB marks YEAR unsigned
	for i, n := range tm.Names {
		require.Equal(t, unsigned[n], tm.Unsigned[i], "unsigned %s", n)
	}
	// bool1 comes after YEAR: it is signed only if YEAR has its bit
	require.False(t, tm.Unsigned[25])
	require.True(t, tm.HasKeys)
	require.Equal(t, []int{1, 0}, tm.Keys, "PRIMARY KEY (k2(3), id)")
	require.Equal(t, [][]byte{[]byte("a"), []byte("b'c"), []byte("d")}, tm.Elems[17])
	require.Equal(t, [][]byte{[]byte("x"), []byte("y"), []byte("z")}, tm.Elems[18])
	require.Nil(t, tm.Elems[0])
	coll := map[string]uint64{"k2": collLatin1, "c": collLatin1, "vc": collLatin1, "vb": collBinary, "bl": collBinary,
		"tx": collLatin1, "e": collLatin1, "s": collLatin1, "j": collUTF8Bin, "g": collBinary}
	for i, n := range tm.Names {
		require.Equal(t, coll[n], tm.Charsets[i], "collation of %s", n)
	}
	require.Equal(t, []bool{false, false}, tm.Nullable[:2])
	require.True(t, tm.Nullable[2])
}

func TestParseTableMapCharsetsAndMembers(t *testing.T) {
	t.Parallel()
	tm, err := parseTableMap(readTableMap(t, "full_t3"))
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "g", "c", "y", "n", "e", "s", "bn"}, tm.Names)
	require.Equal(t, []bool{false, false, false, false, true, false, false, false, false}, tm.Unsigned)
	require.Equal(t, []uint64{0, collUTF8MB4, collBinary, collLatin1, 0, 0, collLatin1, collUTF8MB4, collBinary}, tm.Charsets)
	require.Equal(t, [][]byte{{0xe9}, []byte("b")}, tm.Elems[6], "latin1 members as the server sent them")
	require.Equal(t, [][]byte{[]byte("ü"), []byte("v")}, tm.Elems[7])
	require.False(t, tm.HasKeys, "no primary key")

	minimal, err := parseTableMap(readTableMap(t, "minimal_t3"))
	require.NoError(t, err)
	require.Nil(t, minimal.Names)
	require.Nil(t, minimal.Elems)
	require.False(t, minimal.HasKeys)
	require.Equal(t, tm.Unsigned, minimal.Unsigned)
	require.Equal(t, []uint64{0, collUTF8MB4, collBinary, collLatin1, 0, 0, 0, 0, collBinary}, minimal.Charsets)
	require.NotEqual(t, tm.shape, minimal.shape)

	t4, err := parseTableMap(readTableMap(t, "full_t4"))
	require.NoError(t, err)
	require.Equal(t, []string{"id", "note"}, t4.Names)
	require.Equal(t, []int{0}, t4.Keys)
}

func TestParseTableMapWithoutMetadata(t *testing.T) {
	t.Parallel()
	tm, err := parseTableMap(readTableMap(t, "nolog_t2"))
	require.NoError(t, err)
	require.Equal(t, []byte{tLongLong, tLongLong, tVarchar}, tm.Types)
	require.Equal(t, []bool{false, false, true}, tm.Nullable)
	require.Nil(t, tm.Names)
	require.Nil(t, tm.Unsigned)
	require.Nil(t, tm.Charsets)
	require.False(t, tm.HasKeys)

	full, err := parseTableMap(readTableMap(t, "full_t2"))
	require.NoError(t, err)
	require.Equal(t, []string{"id", "at", "note"}, full.Names)
	require.Equal(t, tm.Types, full.Types)
}

// TestParseTableMapRefusesTruncatedMetadata: every cut of a real event's
// optional metadata is either still well-formed or an error.
func TestParseTableMapRefusesTruncatedMetadata(t *testing.T) {
	t.Parallel()
	b := readTableMap(t, "full_t1")
	for n := len(b) - 1; n > 0; n-- {
		tm, err := parseTableMap(b[:n])
		if err == nil {
			require.LessOrEqual(t, len(tm.Names), len(tm.Types))
		}
	}
	// a column count past the event is refused
	cut := append([]byte{}, b...)
	cut[8+1+4+1+1+2+1] = 0xfc // the column count becomes a 2-byte length
	_, err := parseTableMap(cut)
	require.Error(t, err)
}

// FuzzTableMap feeds arbitrary bytes, and real events with bytes changed, to
// the TABLE_MAP parser: a malformed event is an error, never a panic or a
// huge allocation, and what it returns is consistent.
func FuzzTableMap(f *testing.F) {
	names, err := filepath.Glob(filepath.Join("testdata", "tablemap", "*.hex"))
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range names {
		f.Add(readTableMap(f, strings.TrimSuffix(filepath.Base(n), ".hex")))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tm, err := parseTableMap(b)
		if err != nil {
			return
		}
		n := len(tm.Types)
		if len(tm.Meta) != n || (tm.Names != nil && len(tm.Names) != n) || (tm.Unsigned != nil && len(tm.Unsigned) != n) ||
			(tm.Charsets != nil && len(tm.Charsets) != n) || (tm.Elems != nil && len(tm.Elems) != n) {
			t.Fatalf("per-column slices disagree with %d columns: %+v", n, tm)
		}
		for _, k := range tm.Keys {
			if k < 0 || k >= n {
				t.Fatalf("key column %d of %d", k, n)
			}
		}
		if tm.Names == nil {
			return
		}
		// what the reader builds from it must hold together too
		def := fromMap(tm, nil, nil)
		if len(def.Columns) != n || len(def.Shape.Columns) != n {
			t.Fatalf("%d columns from a map of %d", len(def.Columns), n)
		}
	})
}

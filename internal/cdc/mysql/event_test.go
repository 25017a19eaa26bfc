package mysql

import (
	"strings"
	"testing"
)

// FuzzEvents feeds arbitrary bytes to the binlog event parsers and the row
// decoder: a malformed event is an error, never a panic.
func FuzzEvents(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 4, 's', 'h', 'o', 'p', 0, 1, 't', 0, 2, 3, 246, 2, 10, 2, 0})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 3, 0, 1, 0, 0, 0, 2, 0xff, 0x80, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = parseHeader(b)
		_, _, _ = parseQuery(b)
		tm, err := parseTableMap(b)
		_, _ = parseRows(evUpdateRowsV2, b)
		ev, err2 := parseRows(evWriteRowsV1, b)
		if len(b) > 2 {
			_, _, _ = decimal(b[2:], int(b[0]%70), int(b[1]%70))
		}
		if err != nil || err2 != nil || len(tm.Types) != ev.Columns || len(tm.Types) == 0 {
			return
		}
		tbl := &table{}
		for range tm.Types {
			tbl.Columns = append(tbl.Columns, &column{Name: "c", Elems: []string{"a"}})
		}
		r := &Reader{}
		_, _, _ = r.image(tm, tbl, ev.Present, ev.Rows)
	})
}

func TestOnlyMariaDBIsRead(t *testing.T) {
	if err := checkVersion("10.11.19-MariaDB-log"); err != nil {
		t.Fatal(err)
	}
	err := checkVersion("8.0.36")
	if err == nil || !strings.Contains(err.Error(), "not MariaDB") {
		t.Fatalf("MySQL 8.0.36: %v", err)
	}
}

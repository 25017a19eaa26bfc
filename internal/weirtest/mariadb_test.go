package weirtest

import (
	"testing"
)

func TestMariaDB(t *testing.T) {
	t.Parallel()
	m := StartMariaDB(t)
	m.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.t (id INT PRIMARY KEY)", "INSERT INTO shop.t VALUES (1)")
	db := m.DB(t, "shop")
	var format, image string
	if err := db.QueryRow("SELECT @@binlog_format, @@binlog_row_image").Scan(&format, &image); err != nil {
		t.Fatal(err)
	}
	if format != "ROW" || image != "FULL" {
		t.Fatalf("binlog_format %s, binlog_row_image %s", format, image)
	}
	m.Kill()
	m.Kill()
	m.Start()
	var n int
	if err := m.DB(t, "shop").QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after a kill: %d rows, %v", n, err)
	}
}

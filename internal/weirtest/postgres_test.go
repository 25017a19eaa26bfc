package weirtest

import (
	"testing"
)

func TestPostgresStartsKillsAndRestarts(t *testing.T) {
	p := StartPostgres(t)
	if got := p.Exec(t, "", "SHOW wal_level")[0][0]; got != "logical" {
		t.Fatalf("wal_level = %q", got)
	}
	p.Exec(t, "", "CREATE TABLE kept (id int primary key); INSERT INTO kept VALUES (1)")
	p.Kill()
	if _, err := p.TryExec("", "SELECT 1"); err == nil {
		t.Fatal("a killed server answered")
	}
	p.Kill() // twice is harmless
	p.Start()
	if got := p.Exec(t, "", "SELECT count(*) FROM kept")[0][0]; got != "1" {
		t.Fatalf("rows after restart = %s", got)
	}
}

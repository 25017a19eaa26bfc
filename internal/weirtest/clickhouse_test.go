package weirtest

import (
	"strings"
	"testing"
)

func TestClickHouseStartsStopsAndRestarts(t *testing.T) {
	t.Parallel()
	c := StartClickHouse(t)
	c.Query(t, "CREATE TABLE t (x UInt32) ENGINE = MergeTree ORDER BY x")
	c.Query(t, "INSERT INTO t VALUES (1), (2)")
	c.Stop()
	if _, err := c.TryQuery("SELECT 1"); err == nil {
		t.Fatal("a stopped server answered")
	}
	c.Start()
	if got := strings.TrimSpace(c.Query(t, "SELECT count() FROM t")); got != "2" {
		t.Fatalf("count after restart = %q, want 2", got)
	}
}

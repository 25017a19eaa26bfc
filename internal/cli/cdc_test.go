package cli

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// weir cdc status shows a PostgreSQL source as a table and in detail; drop
// refuses a running source and says how to pause it; after a pause, drop
// removes the slot and says what it removed.
func TestCDCStatusAndDrop(t *testing.T) {
	t.Parallel()
	pg := weirtest.StartPostgres(t)
	pg.Exec(t, "", `CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders VALUES (1, 9.5), (2, 12)`)
	base := runWeir(t, fmt.Sprintf(`
cdc:
  shop:
    postgres:
      dsn: %q
      tables: {orders: {}}
`, pg.DSN()), nil)
	run := runAgainst(base)

	var out string
	weirtest.Eventually(t, 30*time.Second, func() error {
		code, o, e := run("cdc", "status")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, e)
		}
		if !strings.Contains(o, "streaming") || !strings.Contains(o, "snapshot 1/1 tables, 2 rows") {
			return fmt.Errorf("not streaming after its snapshot yet:\n%s", o)
		}
		out = o
		return nil
	})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	for _, h := range []string{"NAME", "KIND", "STATE", "POSITION", "LAG", "RETAINED WAL", "SNAPSHOT", "LAST ERROR"} {
		require.Contains(t, lines[0], h)
	}
	require.Regexp(t, `^shop\s+postgres\s+streaming\s+[0-9A-F]+/[0-9A-F]+\s+\S+\s+[0-9.]+ [KM]?i?B\s+snapshot 1/1 tables, 2 rows\s+-$`, lines[1])

	code, detail, stderr := run("cdc", "status", "shop")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `(?m)^kind:\s+postgres$`, detail)
	require.Regexp(t, `(?m)^\s+public\.orders\s+snapshot\s+2\s+\d+\s+true\s+-$`, detail)
	require.Regexp(t, `(?m)^\s+public\.orders\s+db\.public\.orders\s+v1\s+-$`, detail)

	code, raw, _ := run("cdc", "status", "shop", "--json")
	require.Equal(t, 0, code)
	require.Contains(t, raw, `"retained_bytes"`)

	code, _, stderr = run("cdc", "status", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "there is no cdc source named")

	// Drop refuses a running source and says how to pause it.
	code, _, stderr = run("cdc", "drop", "shop")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "pause it first (weir cdc pause shop)")
	require.Equal(t, [][]string{{"1"}}, pg.Exec(t, "", `SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'weir_shop'`))

	code, o, stderr := run("cdc", "pause", "shop")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, o, "cdc source shop: paused")
	require.Contains(t, o, "keeps WAL")

	code, o, stderr = run("cdc", "drop", "shop")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, o, "dropped cdc source shop; removed:\n  - replication slot weir_shop\n  - publication weir_shop\n")
	require.Contains(t, o, "next: remove cdc.shop from weir.yaml")
	require.Equal(t, [][]string{{"0"}}, pg.Exec(t, "", `SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'weir_shop'`))
}

// Sizes read as people read them.
func TestBytesText(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 20: "3.0 MiB", 1<<30 + 1<<29: "1.5 GiB"} {
		require.Equal(t, want, bytesText(n), n)
	}
}

// weir cdc backfill starts a backfill of a running source and prints its
// id; its progress shows in weir cdc status; a table the source does not
// capture, a condition PostgreSQL refuses and a missing --table fail with
// the reason.
func TestCDCBackfill(t *testing.T) {
	t.Parallel()
	pg := weirtest.StartPostgres(t)
	pg.Exec(t, "", `CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders SELECT g, g FROM generate_series(1, 5) g`)
	base := runWeir(t, fmt.Sprintf(`
cdc:
  shop:
    postgres:
      dsn: %q
      snapshot: never
      tables: {orders: {}}
`, pg.DSN()), nil)
	run := runAgainst(base)
	weirtest.Eventually(t, 30*time.Second, func() error {
		if _, o, _ := run("cdc", "status"); !strings.Contains(o, "streaming") {
			return fmt.Errorf("not streaming yet:\n%s", o)
		}
		return nil
	})

	// Flags before or after the name.
	code, o, stderr := run("cdc", "backfill", "--where", "id > 2", "shop", "--table", "public.orders")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `^backfill [0-9a-z]{26} of public\.orders where id > 2 started\nfollow it: weir cdc status shop\n$`, o)
	weirtest.Eventually(t, 30*time.Second, func() error {
		_, detail, _ := run("cdc", "status", "shop")
		if !regexp.MustCompile(`(?m)^\s+public\.orders\s+backfill\s+3\s+\d+\s+true\s+id > 2$`).MatchString(detail) {
			return fmt.Errorf("backfill not done:\n%s", detail)
		}
		return nil
	})

	code, _, stderr = run("cdc", "backfill", "shop", "--table", "public.nope")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "weir answered 400: table:")
	code, _, stderr = run("cdc", "backfill", "shop", "--table", "public.orders", "--where", "no_such_column = 1")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "weir answered 400: where:")
	require.Contains(t, stderr, "no_such_column")
	code, _, stderr = run("cdc", "backfill", "shop")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "usage: weir cdc backfill NAME --table SCHEMA.TABLE [--where SQL]")
	code, _, stderr = run("cdc", "backfill", "nope", "--table", "public.orders")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "there is no cdc source named")

	code, _, stderr = run("cdc", "pause", "shop")
	require.Equal(t, 0, code, stderr)
	code, _, stderr = run("cdc", "backfill", "shop", "--table", "public.orders")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "cdc source shop is paused or not running: resume it first (weir cdc resume shop)")
}

// runAgainst runs weir's CLI against the server at base with the admin
// token: the exit code, stdout and stderr.
func runAgainst(base string) func(args ...string) (int, string, string) {
	return func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := Main(append(args, "--server", base, "--token", adminToken), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
}

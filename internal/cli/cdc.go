package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/problem"
)

// cdcGroup lists the subcommands of weir cdc.
var cdcGroup = group{name: "cdc", subs: []string{
	"status [NAME] [--json]",
	"pause NAME",
	"resume NAME",
	"drop NAME",
	"backfill NAME --table SCHEMA.TABLE [--where SQL]",
}}

// cdcAbout says what each subcommand of weir cdc does, for its --help.
var cdcAbout = map[string]string{
	"status": "Show the cdc sources: kind, state, position, lag, retained WAL, snapshot or backfill progress and the last error; " +
		"with NAME, one source in detail (its tables, their contract versions, every table's progress).",
	"pause": "Stop a cdc source and keep it stopped across restarts. A paused PostgreSQL source's slot keeps all WAL " +
		"from the paused position on: watch the database's disk, resume or drop it.",
	"resume": "Start a paused cdc source again from where it stopped (afresh, with a new snapshot, after a drop).",
	"drop": "Remove what a cdc source keeps so that it no longer pins the database's log: the replication slot and the " +
		"publication weir made (PostgreSQL), the saved binlog position (MySQL), and the published-up-to mark. " +
		"The source must be paused first (weir cdc pause NAME); after the drop, remove cdc.NAME from weir.yaml.",
	"backfill": "Read a captured table of a running source again, whole or the rows matching --where, while streaming " +
		"goes on: its rows become op r events (source.snapshot incremental). Prints the backfill's id; follow its " +
		"progress with weir cdc status NAME. One backfill runs at a time per source (PostgreSQL sources only, for now).",
}

// cdcCmd runs `weir cdc status|pause|resume|drop`.
func cdcCmd(args []string, stdout, stderr io.Writer) error {
	cmd, err := cdcGroup.pick(args, stdout)
	if err != nil {
		return err
	}
	about, ok := cdcAbout[cmd]
	if !ok {
		return fmt.Errorf("weir cdc: unknown command %q (want status, pause, resume, drop or backfill)", cmd)
	}
	synopsis := "cdc " + cmd
	for _, s := range cdcGroup.subs {
		if s == cmd || strings.HasPrefix(s, cmd+" ") {
			synopsis = "cdc " + s
		}
	}
	shown := []string{"config", "server", "token"}
	switch cmd {
	case "status":
		shown = append(shown, "json")
	case "backfill":
		shown = append(shown, "table", "where")
	}
	fs := newFlags("cdc "+cmd, synopsis, about, stderr, shown...)
	af := addAPIFlags(fs)
	asJSON := fs.Bool("json", false, "status: print weir's answer as JSON")
	table := fs.String("table", "", "backfill: the table to read again, as schema.table")
	where := fs.String("where", "", "backfill: an SQL condition on the table's rows, e.g. 'id > 100' (default: every row)")
	if err := parseInterleaved(fs, args[1:], stdout); err != nil {
		return err
	}
	switch cmd {
	case "status":
		if fs.NArg() > 1 {
			return errors.New("usage: weir cdc status [NAME]")
		}
		return cdcStatus(af, fs.Arg(0), *asJSON, stdout)
	case "drop":
		if fs.NArg() != 1 {
			return errors.New("usage: weir cdc drop NAME (pause it first: weir cdc pause NAME)")
		}
		return cdcDrop(af, fs.Arg(0), stdout)
	case "backfill":
		if fs.NArg() != 1 || *table == "" {
			return errors.New("usage: weir cdc backfill NAME --table SCHEMA.TABLE [--where SQL]")
		}
		return cdcBackfill(af, fs.Arg(0), *table, *where, stdout)
	default: // pause, resume
		if fs.NArg() != 1 {
			return fmt.Errorf("usage: weir cdc %s NAME", cmd)
		}
		raw, err := af.callRaw(http.MethodPost, "/v1/cdc/"+url.PathEscape(fs.Arg(0))+"/"+cmd)
		if err != nil {
			return err
		}
		var st cdc.SourceStatus
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("weir's answer is not a cdc status: %w", err)
		}
		fmt.Fprintf(stdout, "cdc source %s: %s\n", st.Name, st.State)
		if cmd == "pause" && st.Kind == "postgres" {
			fmt.Fprintln(stdout, "Its replication slot keeps WAL from here on: resume it (weir cdc resume "+st.Name+") or drop it (weir cdc drop "+st.Name+").")
		}
		return nil
	}
}

// cdcStatus prints every source as a table, or one source in detail.
func cdcStatus(af apiFlags, name string, asJSON bool, stdout io.Writer) error {
	path := "/v1/cdc"
	if name != "" {
		path += "/" + url.PathEscape(name)
	}
	raw, err := af.callRaw(http.MethodGet, path)
	if err != nil {
		return err
	}
	if asJSON {
		return printRaw(stdout, raw)
	}
	if name != "" {
		var st cdc.SourceStatus
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("weir's answer is not a cdc status: %w", err)
		}
		printCDCDetail(stdout, st)
		return nil
	}
	var list struct {
		Sources []cdc.SourceStatus `json:"sources"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("weir's answer is not a list of cdc sources: %w", err)
	}
	if len(list.Sources) == 0 {
		fmt.Fprintln(stdout, "no cdc sources (cdc: in weir.yaml)")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSTATE\tPOSITION\tLAG\tRETAINED WAL\tSNAPSHOT\tLAST ERROR")
	for _, s := range list.Sources {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Kind, orDash(s.State), orDash(s.Position),
			lag(s.Status), retained(s.Status), progress(s.Snapshot), orDash(shorten(s.LastError, 60)))
	}
	return tw.Flush()
}

// printCDCDetail prints one source's status, a field a line.
func printCDCDetail(w io.Writer, s cdc.SourceStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("name", s.Name)
	row("kind", s.Kind)
	row("state", orDash(s.State))
	row("position", orDash(s.Position))
	row("lag", lag(s.Status))
	row("retained WAL", retained(s.Status))
	row("pending", fmt.Sprint(s.Pending))
	if s.LastError != "" {
		at := ""
		if !s.LastErrorAt.IsZero() {
			at = " (" + s.LastErrorAt.UTC().Format(time.RFC3339) + ")"
		}
		row("last error", s.LastError+at)
	}
	_ = tw.Flush()
	if s.Paused && s.Kind == "postgres" {
		fmt.Fprintln(w, "\nPaused: the replication slot keeps WAL from the paused position on.")
	}
	if len(s.Snapshot) > 0 {
		fmt.Fprintln(w, "\nSnapshot and backfill progress:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TABLE\tKIND\tROWS\tESTIMATE\tDONE\tWHERE")
		for _, p := range s.Snapshot {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%v\t%s\n", p.Table, p.Kind, p.Rows, p.Estimate, p.Done, orDash(p.Where))
		}
		_ = tw.Flush()
	}
	if len(s.Tables) > 0 {
		fmt.Fprintln(w, "\nTables:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TABLE\tTYPE\tCONTRACT\tINCOMPATIBLE CHANGE")
		for _, t := range s.Tables {
			v := "-"
			if t.Version > 0 {
				v = fmt.Sprintf("v%d", t.Version)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Table, t.Type, v, orDash(strings.Join(t.Issues, "; ")))
		}
		_ = tw.Flush()
	}
}

// cdcDrop drops a paused source and says what went; a running source's
// refusal says how to pause it.
func cdcDrop(af apiFlags, name string, stdout io.Writer) error {
	out, err := af.call(http.MethodPost, "/v1/cdc/"+url.PathEscape(name)+"/drop", nil, stdout)
	if err != nil {
		if t, _ := out["type"].(string); t == problem.TypeBase+"cdc-not-paused" {
			return fmt.Errorf("cdc source %s is running: pause it first (weir cdc pause %s), then drop it", name, name)
		}
		return err
	}
	fmt.Fprintf(stdout, "dropped cdc source %s; removed:\n", name)
	removed, _ := out["removed"].([]any)
	for _, r := range removed {
		fmt.Fprintf(stdout, "  - %v\n", r)
	}
	if len(removed) == 0 {
		fmt.Fprintln(stdout, "  (nothing: it kept nothing)")
	}
	if next, _ := out["next"].(string); next != "" {
		fmt.Fprintf(stdout, "next: %s\n", next)
	}
	return nil
}

// cdcBackfill asks a source to read a table again and prints the
// backfill's id; refusals that have a next step say it.
func cdcBackfill(af apiFlags, name, table, where string, stdout io.Writer) error {
	body := struct {
		Table string `json:"table"`
		Where string `json:"where,omitempty"`
	}{table, where}
	out, err := af.call(http.MethodPost, "/v1/cdc/"+url.PathEscape(name)+"/backfill", body, stdout)
	if err != nil {
		switch t, _ := out["type"].(string); t {
		case problem.TypeBase + "cdc-backfill-running":
			return fmt.Errorf("a backfill of cdc source %s is still running: follow it with weir cdc status %s, then ask again", name, name)
		case problem.TypeBase + "cdc-paused":
			return fmt.Errorf("cdc source %s is paused or not running: resume it first (weir cdc resume %s)", name, name)
		case problem.TypeBase + "cdc-unsupported":
			return fmt.Errorf("cdc source %s cannot backfill: only PostgreSQL sources can, for now", name)
		}
		return err
	}
	id, _ := out["id"].(string)
	cond := ""
	if where != "" {
		cond = " where " + where
	}
	fmt.Fprintf(stdout, "backfill %s of %s%s started\n", id, table, cond)
	fmt.Fprintf(stdout, "follow it: weir cdc status %s\n", name)
	return nil
}

// progress sums a snapshot's or backfill's tables into one cell.
func progress(ps []cdc.TableProgress) string {
	if len(ps) == 0 {
		return "-"
	}
	var rows int64
	done, kind := 0, ps[0].Kind
	for _, p := range ps {
		rows += p.Rows
		if p.Done {
			done++
		}
		if p.Kind != kind {
			kind = "snapshot+backfill"
		}
	}
	return fmt.Sprintf("%s %d/%d tables, %d rows", kind, done, len(ps), rows)
}

func lag(s cdc.Status) string {
	if s.State == "" || s.State == "paused" || s.State == "failing" {
		return "-"
	}
	return (time.Duration(s.LagSeconds * float64(time.Second))).Round(time.Millisecond).String()
}

func retained(s cdc.Status) string {
	if s.RetainedBytes < 0 {
		return "-"
	}
	v := bytesText(s.RetainedBytes)
	if s.MaxRetainedBytes > 0 && s.RetainedBytes > s.MaxRetainedBytes {
		v += " (over max_retained_wal " + bytesText(s.MaxRetainedBytes) + ")"
	}
	return v
}

// bytesText is a size in binary units: 512 B, 3.0 MiB, 1.2 GiB.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// apiFlags are the flags every API command shares.
type apiFlags struct {
	cfgPath, server, token *string
}

func addAPIFlags(fs *flag.FlagSet) apiFlags {
	return apiFlags{
		cfgPath: fs.String("config", "", "configuration file (for the server address; default ./weir.yaml when present)"),
		server:  fs.String("server", "", serverFlagHelp),
		token:   fs.String("token", "", "API token (default $WEIR_TOKEN)"),
	}
}

func (f apiFlags) base() (string, error) { return serverURL(*f.server, *f.cfgPath) }

// call sends one API request and prints the JSON answer; a problem answer is an error.
func (f apiFlags) call(method, path string, body any, stdout io.Writer) (map[string]any, error) {
	base, err := f.base()
	if err != nil {
		return nil, err
	}
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	var out map[string]any
	status, err := apiCall(method, base, path, *f.token, raw, &out)
	if err != nil {
		return nil, err
	}
	if status >= 300 {
		detail, _ := out["detail"].(string)
		return out, fmt.Errorf("weir answered %d: %s", status, detail)
	}
	return out, nil
}

// callRaw sends one API request and returns the JSON answer as weir sent it,
// so that numbers (129.90) and key order stay as stored.
func (f apiFlags) callRaw(method, path string) (json.RawMessage, error) {
	base, err := f.base()
	if err != nil {
		return nil, err
	}
	var out json.RawMessage
	status, err := apiCall(method, base, path, *f.token, nil, &out)
	if err != nil {
		return nil, err
	}
	if status >= 300 {
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(out, &p)
		return out, fmt.Errorf("weir answered %d: %s", status, p.Detail)
	}
	return out, nil
}

func printJSON(w io.Writer, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(w, string(b))
}

// printRaw indents JSON without decoding it: every number, string and key
// order is printed as stored.
func printRaw(w io.Writer, raw json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return fmt.Errorf("weir's answer is not JSON: %w", err)
	}
	b.WriteByte('\n')
	_, err := b.WriteTo(w)
	return err
}

// deadLettersGroup lists the subcommands of weir deadletters.
var deadLettersGroup = group{name: "deadletters", subs: []string{
	"ls [--subscription S] [--source S] [--type PATTERN] [--kind K] [--status S] [--from T] [--to T] [--cursor C]",
	"show ID",
	"redrive ID [--data FILE] | redrive --all [filters]",
	"resolve ID --why REASON",
}}

// deadLettersAbout says what each subcommand does and which of the shared
// flags it reads, for its --help.
var deadLettersAbout = map[string]struct {
	about string
	flags []string
}{
	"ls": {"List dead letters (open ones by default), with why each stopped.",
		[]string{"subscription", "source", "type", "kind", "status", "reason", "from", "to", "event-id", "cursor"}},
	"show": {"Print one dead letter as weir stores it: the event, every attempt and the guidance.", nil},
	"redrive": {"Send dead letters on again: one (with corrected data for a quarantined event), or --all matching the filters.",
		[]string{"all", "data", "subscription", "source", "type", "kind", "reason", "from", "to", "event-id"}},
	"resolve": {"Close a dead letter without sending it on, with the reason.", []string{"why"}},
}

// deadLetters runs `weir deadletters ls|show|redrive|resolve`.
func deadLetters(args []string, stdout, stderr io.Writer) error {
	cmd, err := deadLettersGroup.pick(args, stdout)
	if err != nil {
		return err
	}
	help, ok := deadLettersAbout[cmd]
	if !ok {
		return fmt.Errorf("weir deadletters: unknown command %q (want ls, show, redrive or resolve)", cmd)
	}
	synopsis := "deadletters " + cmd
	for _, s := range deadLettersGroup.subs {
		if strings.HasPrefix(s, cmd+" ") {
			synopsis = "deadletters " + s
		}
	}
	fs := newFlags("deadletters "+cmd, synopsis, help.about, stderr, append(help.flags, "config", "server", "token")...)
	af := addAPIFlags(fs)
	sub := fs.String("subscription", "", "only this subscription's dead letters")
	source := fs.String("source", "", "only quarantined events of this source")
	typ := fs.String("type", "", "only types matching this pattern")
	kind := fs.String("kind", "", "undeliverable or quarantined")
	status := fs.String("status", "", "open (default), redriven, resolved or all")
	reason := fs.String("reason", "", "a word of the reason")
	from := fs.String("from", "", "created at or after (RFC 3339)")
	to := fs.String("to", "", "created before (RFC 3339)")
	all := fs.Bool("all", false, "redrive: every open dead letter matching the filters")
	data := fs.String("data", "", "redrive: corrected data of a quarantined event (a JSON file, or - for standard input)")
	why := fs.String("why", "", "resolve: the reason for closing it without sending it on")
	eventID := fs.String("event-id", "", "only the dead letters of this event")
	cursor := fs.String("cursor", "", "ls: continue after the previous page (its next cursor)")
	if err := parseInterleaved(fs, args[1:], stdout); err != nil {
		return err
	}
	filter := map[string]string{"subscription": *sub, "source": *source, "type": *typ, "kind": *kind,
		"status": *status, "reason": *reason, "from": *from, "to": *to, "event_id": *eventID}
	switch cmd {
	case "ls":
		q := url.Values{}
		if *cursor != "" {
			q.Set("cursor", *cursor)
		}
		for k, v := range filter {
			if v != "" {
				q.Set(k, v)
			}
		}
		out, err := af.call(http.MethodGet, "/v1/deadletters?"+q.Encode(), nil, stdout)
		if err != nil {
			return err
		}
		list, _ := out["dead_letters"].([]any)
		if len(list) == 0 {
			fmt.Fprintln(stdout, "no dead letters")
		}
		for _, d := range list {
			m := d.(map[string]any)
			who := m["subscription"]
			if who == nil || who == "" {
				who = m["source"]
			}
			fmt.Fprintf(stdout, "%s  %-13s %-10v %-20v %s\n    %v\n", m["id"], m["kind"], who, m["event_type"], m["created_at"], m["reason"])
		}
		if next, ok := out["next_cursor"].(string); ok {
			fmt.Fprintf(stdout, "(more: add --cursor %s)\n", next)
		}
		return nil
	case "show":
		if fs.NArg() != 1 {
			return errors.New("usage: weir deadletters show ID")
		}
		raw, err := af.callRaw(http.MethodGet, "/v1/deadletters/"+url.PathEscape(fs.Arg(0)))
		if err != nil {
			return err
		}
		return printRaw(stdout, raw)
	case "redrive":
		if *all {
			body := map[string]string{}
			for k, v := range filter {
				if v != "" && k != "status" {
					body[k] = v
				}
			}
			out, err := af.call(http.MethodPost, "/v1/deadletters/redrive", body, stdout)
			if err == nil {
				printJSON(stdout, out)
			}
			return err
		}
		if fs.NArg() != 1 {
			return errors.New("usage: weir deadletters redrive ID [--data FILE] | --all [filters]")
		}
		var body any
		if *data != "" {
			var raw []byte
			var err error
			if *data == "-" {
				raw, err = io.ReadAll(os.Stdin)
			} else {
				raw, err = os.ReadFile(*data)
			}
			if err != nil {
				return err
			}
			if !json.Valid(raw) {
				return fmt.Errorf("--data: %s is not valid JSON", *data)
			}
			body = map[string]json.RawMessage{"data": raw}
		}
		_, err := af.call(http.MethodPost, "/v1/deadletters/"+url.PathEscape(fs.Arg(0))+"/redrive", body, stdout)
		if err == nil {
			fmt.Fprintln(stdout, "redriven", fs.Arg(0))
		}
		return err
	case "resolve":
		if fs.NArg() != 1 || strings.TrimSpace(*why) == "" {
			return errors.New("usage: weir deadletters resolve ID --why \"reason\"")
		}
		_, err := af.call(http.MethodPost, "/v1/deadletters/"+url.PathEscape(fs.Arg(0))+"/resolve", map[string]string{"reason": *why}, stdout)
		if err == nil {
			fmt.Fprintln(stdout, "resolved", fs.Arg(0))
		}
		return err
	}
	return nil
}

// replay runs `weir replay SUBSCRIPTION --from T [--to T] [--from-archive]`,
// following the job's progress until it ends.
func replay(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay", "replay SUBSCRIPTION --from TIME|SEQ [--to TIME|SEQ] [--rate N] [--from-archive] [--detach]",
		"Deliver a range of history to a subscription again, alongside live traffic, and follow the job until it ends.", stderr)
	af := addAPIFlags(fs)
	from := fs.String("from", "", "start: RFC 3339 time, or stream sequence (required)")
	to := fs.String("to", "", "end (exclusive): RFC 3339 time or stream sequence (default: now)")
	rate := fs.Int("rate", 0, "events per second (default 500)")
	fromArchive := fs.Bool("from-archive", false, "read the range from the archive (history older than retention)")
	detach := fs.Bool("detach", false, "start the replay and return without following it")
	if err := parseInterleaved(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 || *from == "" {
		return errors.New("usage: weir replay SUBSCRIPTION --from TIME|SEQ [--to TIME|SEQ] [--from-archive]")
	}
	body := map[string]any{"from": *from, "from_archive": *fromArchive}
	if *to != "" {
		body["to"] = *to
	}
	if *rate > 0 {
		body["rate"] = *rate
	}
	out, err := af.call(http.MethodPost, "/v1/subscriptions/"+url.PathEscape(fs.Arg(0))+"/replay", body, stdout)
	if err != nil {
		return err
	}
	id, _ := out["id"].(string)
	fmt.Fprintf(stdout, "replay %s started\n", id)
	for !*detach {
		out, err = af.call(http.MethodGet, "/v1/replays/"+id, nil, stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %v: %v replayed\n", out["state"], out["replayed"])
		if out["state"] != "running" {
			if out["state"] == "failed" {
				return fmt.Errorf("replay failed: %v", out["error"])
			}
			return nil
		}
		time.Sleep(time.Second)
	}
	return nil
}

// parseInterleaved parses flags that may come after the positional arguments
// (`weir replay fulfillment --from ...`), as people type them. Help is
// answered as parseFlags does.
func parseInterleaved(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if wantsHelp(args) {
		return parseFlags(fs, args, stdout)
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

package cli

import (
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
		cfgPath: fs.String("config", "", "configuration file (for the server address)"),
		server:  fs.String("server", "", "weir's base URL (default http://<server.addr>)"),
		token:   fs.String("token", os.Getenv("WEIR_TOKEN"), "API token (default $WEIR_TOKEN)"),
	}
}

func (f apiFlags) base() (string, error) {
	if *f.server != "" {
		return *f.server, nil
	}
	cfg, err := loadConfig(*f.cfgPath)
	if err != nil {
		return "", err
	}
	return "http://" + cfg.Server.Addr, nil
}

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

func printJSON(w io.Writer, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(w, string(b))
}

// deadLetters runs `weir deadletters ls|show|redrive|resolve`.
func deadLetters(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: weir deadletters ls|show|redrive|resolve ...")
	}
	fs := flag.NewFlagSet("deadletters "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
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
	if err := parseInterleaved(fs, args[1:]); err != nil {
		return err
	}
	filter := map[string]string{"subscription": *sub, "source": *source, "type": *typ, "kind": *kind,
		"status": *status, "reason": *reason, "from": *from, "to": *to, "event_id": *eventID}
	switch args[0] {
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
		out, err := af.call(http.MethodGet, "/v1/deadletters/"+url.PathEscape(fs.Arg(0)), nil, stdout)
		if err == nil {
			printJSON(stdout, out)
		}
		return err
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
	return fmt.Errorf("weir deadletters: unknown command %q (want ls, show, redrive or resolve)", args[0])
}

// replay runs `weir replay SUBSCRIPTION --from T [--to T] [--from-archive]`,
// following the job's progress until it ends.
func replay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	af := addAPIFlags(fs)
	from := fs.String("from", "", "start: RFC 3339 time, or stream sequence (required)")
	to := fs.String("to", "", "end (exclusive): RFC 3339 time or stream sequence (default: now)")
	rate := fs.Int("rate", 0, "events per second (default 500)")
	fromArchive := fs.Bool("from-archive", false, "read the range from the archive (history older than retention)")
	detach := fs.Bool("detach", false, "start the replay and return without following it")
	if err := parseInterleaved(fs, args); err != nil {
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
// (`weir replay fulfillment --from ...`), as people type them.
func parseInterleaved(fs *flag.FlagSet, args []string) error {
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

package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/weir-dev/weir/internal/config"
)

const usage = `weir — the event-first integration layer for micro apps

Usage:
  weir serve [--config FILE] [--data DIR] [--addr HOST:PORT]
        run weir: embedded NATS JetStream bus, API, webhook ingress, one port
  weir send  [--config FILE] [--server URL] --source NAME [--type TYPE] FILE|-
        sign a JSON file with a source's scheme and POST it to /in/NAME
  weir tail  [--config FILE] [--data DIR] [--bus URL] [--user U --password P] [--all] [PATTERN]
        print events whose type matches PATTERN (e.g. order.*) as they arrive
  weir listen --port N [--secret whsec_...] [--fail N] [--status CODE]
        receive a push subscription's deliveries, check their signature, print them
  weir contract check (--server URL | --base DIR [--allow-empty-base]) SCHEMA_FILE_OR_DIR...
        CI gate: exit 1 when a schema is invalid or breaks its contract, with every reason
  weir contract import [--server URL] [--token T] ASYNCAPI_FILE
        register the contracts of an AsyncAPI 2.6 or 3.0 document
  weir deadletters ls|show|redrive|resolve [--subscription S] [--type T] ... [ID]
        see why events stopped, send them on (redrive), or close them (resolve)
  weir replay SUBSCRIPTION --from TIME|SEQ [--to TIME|SEQ] [--from-archive]
        deliver a range of history to a subscription again
  weir cdc status [NAME] | pause NAME | resume NAME | drop NAME | backfill NAME --table T [--where SQL]
        see the change-data-capture sources; drop a paused one's slot or position;
        read a table again while streaming goes on
  weir portal link --roles ROLE[,ROLE...] [--ttl 24h]
        print a one-time sign-in link to the portal (/ui/), scoped to roles
  weir bench [--suite] [--short] [--rate N] [--duration D] [--crash K] [--bus-sync always|DUR] [--json FILE] [--target URL]
        measure weir: signed webhooks in, push deliveries out, against a bare Go ceiling
  weir version
  weir help [COMMAND]

--config defaults to ./weir.yaml when that file exists. Commands that talk to a
running weir find it with --server, else $WEIR_URL, else weir.yaml's server.addr.
Every command and subcommand takes --help.
`

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "dev"

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stdout, stderr)
	case "send":
		err = send(args[1:], stdout, stderr)
	case "tail":
		err = tail(args[1:], stdout, stderr)
	case "listen":
		err = listen(args[1:], stdout, stderr)
	case "deadletters":
		err = deadLetters(args[1:], stdout, stderr)
	case "replay":
		err = replay(args[1:], stdout, stderr)
	case "contract":
		err = contractCmd(args[1:], stdout, stderr)
	case "cdc":
		err = cdcCmd(args[1:], stdout, stderr)
	case "portal":
		err = portalCmd(args[1:], stdout, stderr)
	case "bench":
		err = benchCmd(args[1:], stdout, stderr)
	case "version", "--version":
		err = version(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		if len(args) > 1 && args[0] == "help" {
			return Main([]string{args[1], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "weir: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if errors.Is(err, errBreaking) {
			return 1
		}
		fmt.Fprintln(stderr, "weir:", err)
		return 1
	}
	return 0
}

func version(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "version", "Print weir's version.", stderr)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "weir", Version)
	return nil
}

// configFile is the file loadConfig reads: --config, else ./weir.yaml when
// present, else "" (no file).
func configFile(path string) string {
	if path == "" {
		if _, err := os.Stat("weir.yaml"); err == nil {
			path = "weir.yaml"
		}
	}
	return path
}

// loadConfig reads --config, or ./weir.yaml when present, or nothing, for
// weir serve: every ${NAME} must be set and the whole file valid.
func loadConfig(path string) (*config.Config, error) {
	path = configFile(path)
	if path == "" {
		return config.Parse(nil, os.LookupEnv)
	}
	return config.Load(path)
}

// newLogger builds the process logger from the configuration.
func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

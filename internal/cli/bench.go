package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/weir-dev/weir/internal/bench"
)

// benchCmd is `weir bench`: it measures weir started as a child process (or
// a running one with --target) and prints a table, and with --json the
// report. `weir bench bare-server` is the hidden ceiling server it starts.
func benchCmd(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && args[0] == "bare-server" && !wantsHelp(args[1:]) {
		return bench.ServeBare(ctx, stdout)
	}

	fs := newFlags("bench", "bench [--suite] [--short] [--rate N] [--duration D] [--crash K] [--json FILE] [--target URL]",
		"Measure weir: signed webhooks in, push deliveries out, against a bare Go ceiling.", stderr)
	var o bench.Options
	fs.StringVar(&o.Weir, "weir", "", "weir binary to start (default: this executable)")
	fs.StringVar(&o.Target, "target", "", "measure a running weir at this base URL instead of starting one (needs --source and --secret)")
	fs.StringVar(&o.Source, "source", "", "with --target: the source to send to (/in/NAME)")
	fs.StringVar(&o.Secret, "secret", "", "with --target: the source's Standard Webhooks secret (whsec_...)")
	fs.StringVar(&o.PushSecret, "push-secret", "", "with --target: the secret of the subscription pointing at --receiver-addr, to verify deliveries")
	fs.IntVar(&o.PID, "pid", 0, "with --target: weir's process id, to read its memory and CPU")
	fs.StringVar(&o.ReceiverAddr, "receiver-addr", "127.0.0.1:0", "where the push receiver (the micro app) listens")
	connections := fs.Int("connections", bench.DefaultConnections, "connections, each with its own sending goroutine")
	size := fs.Int("size", bench.DefaultSize, "request body size in bytes")
	rate := fs.Float64("rate", 0, "requests per second, open loop; 0 sends as fast as possible (with --crash: default 1000)")
	duration := fs.Duration("duration", bench.DefaultDuration, "measured time of each scenario (with --soak: default 10m)")
	warmup := fs.Duration("warmup", bench.DefaultWarmup, "load before measuring, not counted")
	fs.BoolVar(&o.NoCeiling, "no-ceiling", false, "skip the bare Go handler that gives the ceiling")
	fs.BoolVar(&o.IngressOnly, "ingress-only", false, "run weir without a subscription: ingress alone")
	fs.BoolVar(&o.Suite, "suite", false, "run every scenario of the docs: ceiling, ingress-saturation, saturation, rate-5000, rate-2000, push-drain")
	fs.BoolVar(&o.Short, "short", false, "shrink durations, the drain and the suite's rates, for CI")
	drainEvents := fs.Int("drain-events", bench.DefaultDrainEvents, "backlog of the push-drain scenario")
	drainTimeout := fs.Duration("drain-timeout", bench.DefaultDrainTimeout, "longest wait for deliveries after the load")
	fs.IntVar(&o.Crash, "crash", 0, "kill weir with SIGKILL this many times under load, restart it, and check nothing acked is lost")
	fs.BoolVar(&o.Soak, "soak", false, "a long run (default 10m) that shows whether weir's memory stays flat")
	sampleEvery := fs.Duration("sample-every", bench.DefaultSampleEvery, "how often weir's memory is sampled")
	jsonPath := fs.String("json", "", "also write the report as JSON to FILE (- for standard output)")
	fs.StringVar(&o.BusSync, "bus-sync", "", "bus.sync of the weir the bench starts: always, or an interval such as 1s (default: weir's, 1s)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (configurations, data, weir's logs)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q (see weir bench --help)", fs.Arg(0))
	}

	// Flags not given stay zero, so that the package's defaults apply: they
	// depend on --short, --soak and --crash.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["connections"] {
		o.Connections = *connections
		if o.Connections < 1 {
			return fmt.Errorf("--connections must be >= 1, got %d", o.Connections)
		}
	}
	if set["size"] {
		o.Size = *size
		if o.Size < 1 {
			return fmt.Errorf("--size must be >= 1, got %d", o.Size)
		}
	}
	o.Rate = *rate
	if o.Crash > 0 && !set["rate"] {
		o.Rate = bench.DefaultCrashRate
	}
	if set["duration"] {
		if *duration <= 0 {
			return fmt.Errorf("--duration must be > 0, got %s", *duration)
		}
		o.Duration = *duration
	}
	if set["warmup"] {
		o.Warmup = *warmup
		o.NoWarmup = *warmup == 0
	}
	if set["drain-events"] {
		if *drainEvents < 1 {
			return fmt.Errorf("--drain-events must be >= 1, got %d", *drainEvents)
		}
		o.DrainEvents = *drainEvents
	}
	if set["drain-timeout"] {
		if *drainTimeout <= 0 {
			return fmt.Errorf("--drain-timeout must be > 0, got %s", *drainTimeout)
		}
		o.DrainTimeout = *drainTimeout
	}
	if set["sample-every"] {
		if *sampleEvery <= 0 {
			return fmt.Errorf("--sample-every must be > 0, got %s", *sampleEvery)
		}
		o.SampleEvery = *sampleEvery
	}
	if set["crash"] && o.Crash < 1 {
		return fmt.Errorf("--crash must be >= 1 (the number of kills), got %d", o.Crash)
	}
	o.Log = stderr

	// With the JSON on standard output, the table goes to standard error so
	// that the output stays one JSON document.
	table := stdout
	if *jsonPath == "-" {
		table = stderr
	}
	rep, err := bench.Run(ctx, o)
	if rep != nil && len(rep.Scenarios) > 0 {
		fmt.Fprintln(table)
		if werr := rep.WriteTable(table); werr != nil {
			err = errors.Join(err, werr)
		}
		if *jsonPath != "" {
			err = errors.Join(err, writeReport(rep, *jsonPath, stdout))
		}
	}
	return err
}

// writeReport writes the JSON report to path, or to stdout for "-".
func writeReport(rep *bench.Report, path string, stdout io.Writer) error {
	if path == "-" {
		return rep.WriteJSON(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("--json: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}

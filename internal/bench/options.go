package bench

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Defaults of a full run; Short replaces the durations and sizes (not the
// rate given) with the small ones below it.
const (
	DefaultConnections  = 64
	DefaultSize         = 256
	DefaultDuration     = 10 * time.Second
	DefaultWarmup       = time.Second
	DefaultDrainEvents  = 100_000
	DefaultDrainTimeout = 120 * time.Second
	DefaultSampleEvery  = 10 * time.Second
	// DefaultSoakDuration is the measured duration of a --soak run.
	DefaultSoakDuration = 10 * time.Minute
	// DefaultCrashRate is the rate of a crash run when none is given.
	DefaultCrashRate = 1000

	shortDuration    = time.Second
	shortWarmup      = 200 * time.Millisecond
	shortDrainEvents = 2000
	// shortRateDivisor scales the suite's rates down in short mode: 5000/s
	// and 2000/s become 500/s and 200/s.
	shortRateDivisor = 10
)

// suiteRates are the open-loop scenarios of --suite, in requests per second:
// 5000/s to see weir under a steady high load, 2000/s for the end-to-end
// latency figure quoted in the docs.
var suiteRates = []float64{5000, 2000}

// Options says what to measure. The zero value of a field means its default,
// except where the field says otherwise.
type Options struct {
	// Weir is the weir binary started as the child; empty means the running
	// executable.
	Weir string

	// Target aims the load at a weir that is already running (its base URL,
	// e.g. http://127.0.0.1:8080) instead of starting one. Source and Secret
	// are then required, and --suite and --crash are not possible.
	Target string
	// Source is the source name of Target: requests go to /in/<Source>.
	Source string
	// Secret is the source's Standard Webhooks secret (whsec_...) on Target.
	Secret string
	// PushSecret checks the deliveries' signatures on Target's subscription to
	// this bench's receiver; empty leaves them unchecked.
	PushSecret string
	// PID is Target's process id, to read its memory and CPU; 0 leaves them
	// unknown.
	PID int
	// ReceiverAddr is where the push receiver listens; empty means
	// 127.0.0.1:0. With Target, the subscription's URL must point here.
	ReceiverAddr string

	// Connections is the number of connections and sending goroutines.
	Connections int
	// Size is the body size of each request in bytes (padded JSON).
	Size int
	// Rate is the intended requests per second; 0 means saturation (every
	// connection sends back to back).
	Rate float64
	// Duration is the measured time of each scenario.
	Duration time.Duration
	// Warmup runs before Duration and is not counted. Zero means the default;
	// use NoWarmup to run without.
	Warmup time.Duration
	// NoWarmup starts measuring at once.
	NoWarmup bool

	// NoCeiling skips the bare-handler scenario.
	NoCeiling bool
	// IngressOnly runs weir without a subscription: what ingress alone can take
	// (verify, de-duplicate, store, answer) with no delivery sharing the CPUs.
	IngressOnly bool
	// Suite runs every scenario of the docs (see the package comment).
	Suite bool
	// Short shrinks durations, the drain and the suite's rates so that a whole
	// suite takes seconds, for CI. Fields set explicitly are kept.
	Short bool
	// DrainEvents is the backlog of the push-drain scenario.
	DrainEvents int
	// DrainTimeout bounds every wait for deliveries after the load.
	DrainTimeout time.Duration

	// Crash, when at least 1, is the number of times weir is killed with
	// SIGKILL (and restarted) during the load, evenly spaced.
	Crash int

	// Soak is a long run to see whether memory stays flat: Duration defaults
	// to DefaultSoakDuration and the table shows the RSS trend.
	Soak bool
	// SampleEvery is how often weir's resident memory is sampled.
	SampleEvery time.Duration

	// BusSync is the bus.sync of the bench's own weir: "always" or an interval
	// such as "1s"; empty leaves weir's default (2m). Not with Target.
	BusSync string

	// Keep leaves the temporary directory (configurations, data, logs) in place.
	Keep bool
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.Connections == 0 {
		o.Connections = DefaultConnections
	}
	if o.Size == 0 {
		o.Size = DefaultSize
	}
	if o.Duration == 0 {
		switch {
		case o.Short:
			o.Duration = shortDuration
		case o.Soak:
			o.Duration = DefaultSoakDuration
		default:
			o.Duration = DefaultDuration
		}
	}
	switch {
	case o.NoWarmup:
		o.Warmup = 0
	case o.Warmup == 0 && o.Short:
		o.Warmup = shortWarmup
	case o.Warmup == 0:
		o.Warmup = DefaultWarmup
	}
	if o.DrainEvents == 0 {
		o.DrainEvents = DefaultDrainEvents
		if o.Short {
			o.DrainEvents = shortDrainEvents
		}
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.SampleEvery == 0 {
		o.SampleEvery = DefaultSampleEvery
	}
	if o.ReceiverAddr == "" {
		o.ReceiverAddr = "127.0.0.1:0"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// validate checks the options after withDefaults; errors name the flag.
func (o Options) validate() error {
	switch {
	case o.Connections < 1:
		return fmt.Errorf("--connections must be >= 1, got %d", o.Connections)
	case o.Size < 1 || o.Size > 1<<20:
		return fmt.Errorf("--size must be from 1 to 1048576 bytes, got %d", o.Size)
	case o.Rate < 0:
		return fmt.Errorf("--rate must be >= 0 (0 means saturation), got %g", o.Rate)
	case o.Duration < 0:
		return fmt.Errorf("--duration must be > 0, got %s", o.Duration)
	case o.Warmup < 0:
		return fmt.Errorf("--warmup must be >= 0, got %s", o.Warmup)
	case o.DrainEvents < 1:
		return fmt.Errorf("--drain-events must be >= 1, got %d", o.DrainEvents)
	case o.DrainTimeout < 0:
		return fmt.Errorf("--drain-timeout must be > 0, got %s", o.DrainTimeout)
	case o.Crash < 0:
		return fmt.Errorf("--crash must be >= 1 (the number of kills), got %d", o.Crash)
	case o.SampleEvery < 0:
		return fmt.Errorf("--sample-every must be > 0, got %s", o.SampleEvery)
	case o.PID < 0:
		return fmt.Errorf("--pid must be a process id, got %d", o.PID)
	case o.Crash > 0 && o.Suite:
		return errors.New("--crash and --suite are separate runs; give one of them")
	case o.BusSync != "" && !validSync(o.BusSync):
		return fmt.Errorf("--bus-sync must be always or a positive duration such as 1s, got %q", o.BusSync)
	case o.BusSync != "" && o.Target != "":
		return errors.New("--bus-sync sets the bench's own weir; a weir given with --target has its own bus.sync")
	case o.IngressOnly && (o.Crash > 0 || o.Suite || o.Target != ""):
		return errors.New("--ingress-only is a single run of the bench's own weir: not with --crash, --suite or --target (the suite has its own ingress scenario)")
	}
	if o.Target == "" {
		switch {
		case o.Source != "":
			return errors.New("--source is only used with --target (the bench's own weir has source \"bench\")")
		case o.Secret != "":
			return errors.New("--secret is only used with --target (the bench makes up its own weir's secrets)")
		case o.PID != 0:
			return errors.New("--pid is only used with --target (the bench knows its own weir's pid)")
		}
		return nil
	}
	u, err := url.Parse(o.Target)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("--target %q: want weir's base URL, such as http://127.0.0.1:8080", o.Target)
	case o.Source == "":
		return errors.New("--source is required with --target: the source the requests go to (/in/NAME)")
	case !strings.HasPrefix(o.Secret, "whsec_"):
		return errors.New("--secret is required with --target: the source's Standard Webhooks secret, whsec_...")
	case o.Suite:
		return errors.New("--suite starts its own weir for every scenario; it cannot be combined with --target")
	case o.Crash > 0:
		return errors.New("--crash kills the weir it started; it cannot be combined with --target")
	}
	return nil
}

// suiteRate scales one of the suite's rates for short mode.
func (o Options) suiteRate(r float64) float64 {
	if o.Short {
		return r / shortRateDivisor
	}
	return r
}

// validSync reports whether s is a value of bus.sync: always, or a positive
// duration.
func validSync(s string) bool {
	if s == "always" {
		return true
	}
	d, err := time.ParseDuration(s)
	return err == nil && d > 0
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// ErrLost is the error of a crash run in which acknowledged events never
// arrived. Run returns it wrapped, together with the report.
var ErrLost = errors.New("acknowledged events were lost")

// runner holds what the scenarios of one run share.
type runner struct {
	o          Options
	bin        string    // the weir binary
	tmp        string    // the run's temporary directory
	recv       *receiver // the micro app
	pushSecret string    // the subscriptions' secret
	n          int       // scenarios started, to name their directories
}

// Run measures what o asks for. It returns the report of every scenario that
// finished, also together with an error: a scenario that failed ends the
// run, and a crash run that lost events returns ErrLost. Every child process
// is killed before Run returns, also when ctx ends.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	r := &runner{o: o, bin: o.Weir, pushSecret: o.PushSecret}
	if r.bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("--weir: finding this executable: %w", err)
		}
		r.bin = exe
	}
	if o.Target == "" && r.pushSecret == "" {
		r.pushSecret = newWhsec()
	}
	tmp, err := os.MkdirTemp("", "weir-bench-")
	if err != nil {
		return nil, err
	}
	r.tmp = tmp
	defer func() {
		if o.Keep {
			fmt.Fprintf(o.Log, "bench: kept %s (configurations, data, logs)\n", tmp)
			return
		}
		_ = os.RemoveAll(tmp)
	}()
	r.recv, err = startReceiver(o.ReceiverAddr, r.pushSecret)
	if err != nil {
		return nil, err
	}
	defer r.recv.close()

	rep := &Report{StartedAt: time.Now().UTC(), Machine: Machine{
		CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		WeirVersion: r.weirVersion(ctx),
	}, BusSync: r.o.BusSync}
	if rep.BusSync == "" && r.o.Target == "" {
		rep.BusSync = "default"
	}
	err = r.scenarios(ctx, rep)
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("interrupted: %w", err)
	}
	return rep, err
}

// scenarios runs what the options ask for, adding each to rep as it ends.
func (r *runner) scenarios(ctx context.Context, rep *Report) error {
	add := func(s *Scenario, err error) error {
		if s != nil {
			rep.Scenarios = append(rep.Scenarios, s)
			if ceiling := rep.Scenarios[0]; s.Target == "weir" && ceiling.Target == "bare" && ceiling.AcceptedPerS > 0 {
				s.RatioToCeiling = ptr(s.AcceptedPerS / ceiling.AcceptedPerS)
			}
		}
		return err
	}
	if r.o.Crash > 0 {
		return add(r.crash(ctx))
	}
	if !r.o.NoCeiling {
		if err := add(r.ceiling(ctx)); err != nil {
			return err
		}
	}
	if r.o.Target != "" {
		return add(r.target(ctx))
	}
	if !r.o.Suite {
		if r.o.IngressOnly {
			return add(r.weir(ctx, "ingress-"+rateName(r.o.Rate), r.o.Rate, false))
		}
		return add(r.weir(ctx, rateName(r.o.Rate), r.o.Rate, true))
	}
	if err := add(r.weir(ctx, "ingress-"+rateName(0), 0, false)); err != nil {
		return err
	}
	rates := []float64{0}
	for _, rate := range suiteRates {
		rates = append(rates, r.o.suiteRate(rate))
	}
	for _, rate := range rates {
		if err := add(r.weir(ctx, rateName(rate), rate, true)); err != nil {
			return err
		}
	}
	return add(r.drain(ctx))
}

// rateName names a weir scenario by its rate.
func rateName(rate float64) string {
	if rate == 0 {
		return "saturation"
	}
	return "rate-" + strconv.FormatFloat(rate, 'f', -1, 64)
}

// newScenario starts a scenario's figures and gives it a directory; after
// an interrupt it starts nothing.
func (r *runner) newScenario(ctx context.Context, name, target string, rate float64) (*Scenario, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	r.n++
	dir := filepath.Join(r.tmp, fmt.Sprintf("%d-%s", r.n, name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	s := &Scenario{Name: name, Target: target, Rate: rate, Connections: r.o.Connections, SizeBytes: r.o.Size,
		Errors: map[string]int64{}}
	return s, dir, nil
}

// describe is a progress line about a load.
func (r *runner) describe(s *Scenario, what string) {
	rate := "as fast as possible"
	if s.Rate > 0 {
		rate = fmt.Sprintf("at %g/s", s.Rate)
	}
	fmt.Fprintf(r.o.Log, "bench: %s: %s, %s warmup + %s %s, %d connections, %d-byte bodies\n",
		s.Name, what, r.o.Warmup, r.o.Duration, rate, r.o.Connections, r.o.Size)
}

// ceiling drives the load at the bare server.
func (r *runner) ceiling(ctx context.Context) (*Scenario, error) {
	s, dir, err := r.newScenario(ctx, "ceiling", "bare", 0)
	if err != nil {
		return nil, err
	}
	c, err := startBare(ctx, r.bin, dir)
	if err != nil {
		return nil, err
	}
	defer c.kill()
	r.describe(s, "bare Go handler on "+c.addr)
	// The key does not matter to the bare server; signing it costs the
	// sender the same as signing weir's.
	key, _ := standardKey(newWhsec())
	spec := r.spec("http://"+c.addr+"/in/bench", key, 0, newEventTable())
	if r.o.Soak {
		// A soak is about weir's memory over time; the ceiling does not
		// change over ten minutes.
		spec.duration = min(spec.duration, DefaultDuration)
	}
	r.measure(ctx, s, spec, c.pid)
	if err := c.unexpectedExit(); err != nil {
		return s, err
	}
	if st, err := c.stats(); err == nil {
		s.PeakRSSMB = ptr(st.peakMB)
	}
	return s, nil
}

// spec is the load of one scenario.
func (r *runner) spec(url string, key []byte, rate float64, t *eventTable) *loadSpec {
	return &loadSpec{url: url, key: key, conns: r.o.Connections, size: r.o.Size, rate: rate, table: t,
		warmup: r.o.Warmup, duration: r.o.Duration}
}

// startWeir starts a fresh weir child in dir; with push, its subscription
// points at the receiver.
func (r *runner) startWeir(ctx context.Context, dir string, crash, push bool) (*child, weirConfig, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, weirConfig{}, err
	}
	cfg := weirConfig{
		dataDir: filepath.Join(dir, "data"), addr: addr, token: newToken(),
		sourceSecret: newWhsec(), backlogSecret: newWhsec(),
		pushURL: r.recv.url("/bench"), pushSecret: r.pushSecret, crash: crash, busSync: r.o.BusSync,
	}
	if !push {
		cfg.pushURL = ""
	}
	c, err := startWeir(ctx, r.bin, dir, cfg.yaml(), addr)
	return c, cfg, err
}

// weir measures a fresh weir child at rate (0: saturation), then waits for
// the push deliveries; with push false it has no subscription and nothing is
// delivered.
func (r *runner) weir(ctx context.Context, name string, rate float64, push bool) (*Scenario, error) {
	s, dir, err := r.newScenario(ctx, name, "weir", rate)
	if err != nil {
		return nil, err
	}
	c, cfg, err := r.startWeir(ctx, dir, false, push)
	if err != nil {
		return nil, err
	}
	defer c.kill()
	r.describe(s, "weir on "+cfg.addr)
	key, _ := standardKey(cfg.sourceSecret)
	t := newEventTable()
	if push {
		r.recv.track(t)
	}
	r.measure(ctx, s, r.spec("http://"+cfg.addr+"/in/bench", key, rate, t), c.pid)
	if err := c.unexpectedExit(); err != nil {
		return s, err
	}
	if push {
		if err := r.settle(ctx, s, t, c.unexpectedExit); err != nil {
			return s, err
		}
		if t.lost() > 0 {
			r.saveDiagnostics(ctx, cfg, dir)
		}
	} else {
		s.Notes = append(s.Notes, "no subscription: ingress alone, nothing delivered")
	}
	if st, err := c.stats(); err == nil {
		s.PeakRSSMB = ptr(st.peakMB)
	}
	return s, nil
}

// target measures the weir at --target.
func (r *runner) target(ctx context.Context) (*Scenario, error) {
	s, _, err := r.newScenario(ctx, rateName(r.o.Rate), "weir", r.o.Rate)
	if err != nil {
		return nil, err
	}
	r.describe(s, "weir at "+r.o.Target)
	key, err := standardKey(r.o.Secret)
	if err != nil {
		return nil, fmt.Errorf("--secret: %w", err)
	}
	t := newEventTable()
	r.recv.track(t)
	pid := func() int { return r.o.PID }
	url := strings.TrimRight(r.o.Target, "/") + "/in/" + r.o.Source
	r.measure(ctx, s, r.spec(url, key, r.o.Rate, t), pid)
	if r.o.PushSecret == "" {
		s.Notes = append(s.Notes, "deliveries were not verified: give --push-secret to check their signatures")
	}
	if r.o.PID == 0 {
		s.Notes = append(s.Notes, "weir's memory and CPU are unknown: give --pid")
	}
	if err := r.settle(ctx, s, t, nil); err != nil {
		return s, err
	}
	if st, err := readProc(r.o.PID); r.o.PID > 0 && err == nil {
		s.PeakRSSMB = ptr(st.peakMB)
	}
	return s, nil
}

// settle waits for the deliveries of a load and fills their figures.
func (r *runner) settle(ctx context.Context, s *Scenario, t *eventTable, alive func() error) error {
	fmt.Fprintf(r.o.Log, "bench: %s: %d accepted; waiting for their deliveries\n", s.Name, t.nAcked.Load())
	start := time.Now()
	all, err := waitDelivered(ctx, t, r.o.DrainTimeout, true, alive)
	if err != nil {
		return err
	}
	if !all {
		noteMissing(s, t, time.Since(start))
	}
	s.fillDelivery(t, time.Time{})
	return nil
}

// weirVersion asks the binary measured for its version.
func (r *runner) weirVersion(ctx context.Context) string {
	if r.o.Target != "" {
		return "unknown (--target)"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, r.bin, "version").Output()
	if err != nil {
		return "unknown"
	}
	v := strings.TrimSpace(string(out))
	if rest, ok := strings.CutPrefix(v, "weir "); ok {
		return rest
	}
	return v
}

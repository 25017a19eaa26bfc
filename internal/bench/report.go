package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the result of one `weir bench` run. Its JSON form (snake_case)
// is what --json writes.
type Report struct {
	// Machine describes where the figures come from.
	Machine Machine `json:"machine"`
	// StartedAt is when the run began.
	StartedAt time.Time `json:"started_at"`
	// Scenarios in the order they ran.
	Scenarios []*Scenario `json:"scenarios"`
	// BusSync is the bus.sync the bench's own weir ran with ("default": not
	// set, weir's 2m); empty with --target, where the bench does not know.
	BusSync string `json:"bus_sync,omitempty"`
}

// Machine describes the machine and the builds measured.
type Machine struct {
	// CPUs is runtime.NumCPU() of the bench, which shares them with weir.
	CPUs int `json:"cpus"`
	// Go is the Go version the bench was built with.
	Go string `json:"go"`
	// OS is GOOS/GOARCH.
	OS string `json:"os"`
	// WeirVersion is what `weir version` of the measured binary says.
	WeirVersion string `json:"weir_version"`
}

// Scenario holds the figures of one scenario. Pointer fields are null in
// JSON where the figure is unknown (no /proc, or --target without --pid) or
// does not apply (a bare server delivers nothing).
type Scenario struct {
	// Name is ceiling, saturation, rate-<R>, push-drain or crash.
	Name string `json:"name"`
	// Target is "weir" or "bare" (the ceiling).
	Target string `json:"target"`
	// Rate is the intended requests per second; 0 is saturation.
	Rate float64 `json:"rate"`
	// Connections is the number of connections (and sending goroutines).
	Connections int `json:"connections"`
	// SizeBytes is the body size of each request.
	SizeBytes int `json:"size_bytes"`
	// DurationS is the measured window in seconds (for push-drain: the time to
	// store the backlog).
	DurationS float64 `json:"duration_s"`

	// Sent counts the requests sent in the window.
	Sent int64 `json:"sent"`
	// Accepted counts those answered 2xx.
	Accepted int64 `json:"accepted"`
	// AcceptedPerS is Accepted over the window.
	AcceptedPerS float64 `json:"accepted_per_s"`
	// IngressP50MS and the next three are the latency of accepted requests in
	// milliseconds, from the intended send time until the 2xx answer was read.
	IngressP50MS float64 `json:"ingress_p50_ms"`
	// IngressP90MS is the 90th percentile.
	IngressP90MS float64 `json:"ingress_p90_ms"`
	// IngressP99MS is the 99th percentile.
	IngressP99MS float64 `json:"ingress_p99_ms"`
	// IngressMaxMS is the slowest.
	IngressMaxMS float64 `json:"ingress_max_ms"`

	// Delivered counts distinct events of the window received by push.
	Delivered int64 `json:"delivered"`
	// DeliveredPerS is Delivered over the time from their first to their last
	// arrival (for push-drain: from the subscription's creation to the last).
	DeliveredPerS float64 `json:"delivered_per_s"`
	// Duplicates counts deliveries of an event already received.
	Duplicates int64 `json:"duplicates"`
	// E2EP50MS and the next two are the time from the sender reading the 2xx
	// until the push delivery arrived, in milliseconds. Clamped at 0: weir
	// stores the event before it answers, so the delivery can arrive before
	// the sender has read its 2xx.
	E2EP50MS *float64 `json:"e2e_p50_ms"`
	// E2EP99MS is the 99th percentile.
	E2EP99MS *float64 `json:"e2e_p99_ms"`
	// E2EMaxMS is the slowest.
	E2EMaxMS *float64 `json:"e2e_max_ms"`
	// SendToPushP50MS and the next two are the time from the request's
	// intended send time until its push delivery arrived, in milliseconds:
	// what a micro app downstream of the sender waits. Unlike e2e it never
	// needs clamping, so it stays informative where e2e is mostly 0.
	SendToPushP50MS *float64 `json:"send_to_push_p50_ms"`
	// SendToPushP99MS is the 99th percentile.
	SendToPushP99MS *float64 `json:"send_to_push_p99_ms"`
	// SendToPushMaxMS is the slowest.
	SendToPushMaxMS *float64 `json:"send_to_push_max_ms"`

	// Errors counts every request not accepted and every delivery refused, by
	// kind: "503 bus-unavailable", "transport: connection refused",
	// "delivery: signature-invalid".
	Errors map[string]int64 `json:"errors"`

	// PeakRSSMB is the largest resident memory of weir (or the bare server)
	// over its life (VmHWM), in MiB.
	PeakRSSMB *float64 `json:"peak_rss_mb"`
	// CPUSeconds is the CPU time weir (or the bare server) used in the window;
	// in a crash run, that of every incarnation over its whole life.
	CPUSeconds *float64 `json:"cpu_s"`
	// BenchCPUSeconds is the CPU time of the bench itself (sender and
	// receiver) in the window.
	BenchCPUSeconds *float64 `json:"bench_cpu_s"`
	// RatioToCeiling is AcceptedPerS over the ceiling's, when this run
	// measured one.
	RatioToCeiling *float64 `json:"ratio_to_ceiling,omitempty"`

	// RSSMBSamples is weir's resident memory (VmRSS, MiB) every
	// --sample-every of the window.
	RSSMBSamples []float64 `json:"rss_mb_samples"`
	// RSSMBAt20Pct is the resident memory when a fifth of the window had
	// passed, and RSSMBAtEnd at its end: flat memory keeps them close.
	RSSMBAt20Pct *float64 `json:"rss_mb_at_20pct"`
	// RSSMBAtEnd is the resident memory at the end of the window.
	RSSMBAtEnd *float64 `json:"rss_mb_at_end"`

	// Crash holds what a crash run checks.
	Crash *CrashResult `json:"crash,omitempty"`
	// Notes say what the figures cannot: deliveries still missing, a weir
	// that died.
	Notes []string `json:"notes,omitempty"`
}

// CrashResult is the check of a crash run: every acked event must arrive.
type CrashResult struct {
	// Kills is how many times weir was killed with SIGKILL and restarted.
	Kills int `json:"kills"`
	// Acked counts events answered 2xx, warmup included.
	Acked int64 `json:"acked"`
	// Delivered counts acked events received at least once.
	Delivered int64 `json:"delivered"`
	// Duplicates counts deliveries of an event already received.
	Duplicates int64 `json:"duplicates"`
	// Lost counts acked events never received: must be 0.
	Lost int64 `json:"lost"`
}

// summary is the percentiles of a set of durations.
type summary struct {
	p50, p90, p99, max time.Duration
	n                  int
}

// summarize sorts ds in place and reads its percentiles.
func summarize(ds []time.Duration) summary {
	slices.Sort(ds)
	s := summary{n: len(ds)}
	if len(ds) == 0 {
		return s
	}
	s.p50, s.p90, s.p99 = percentile(ds, 50), percentile(ds, 90), percentile(ds, 99)
	s.max = ds[len(ds)-1]
	return s
}

// percentile is the nearest-rank percentile p (0 < p <= 100) of sorted ds:
// the smallest value at least p percent of the values are not above.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// ms is a duration in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

// round keeps places decimals: the report's figures are not more precise
// than that, and the JSON stays readable.
func round(v float64, places int) float64 {
	p := math.Pow10(places)
	return math.Round(v*p) / p
}

// ptr returns a pointer to v, rounded, for the figures that may be unknown.
func ptr(v float64) *float64 {
	v = round(v, 3)
	return &v
}

// fillIngress puts the sender's figures into s.
func (s *Scenario) fillIngress(res *loadResult) {
	s.Sent, s.Accepted = res.sent, res.accepted
	if secs := res.to.Sub(res.from).Seconds(); secs > 0 {
		s.AcceptedPerS = round(float64(res.accepted)/secs, 1)
	}
	lat := summarize(res.latencies)
	s.IngressP50MS, s.IngressP90MS, s.IngressP99MS, s.IngressMaxMS = ms(lat.p50), ms(lat.p90), ms(lat.p99), ms(lat.max)
	if s.Errors == nil {
		s.Errors = map[string]int64{}
	}
	for k, v := range res.errors {
		s.Errors[k] += v
	}
}

// fillDelivery puts the receiver's figures for the measured events of t
// into s. since, when not zero, starts the delivery rate's window instead
// of the first arrival.
func (s *Scenario) fillDelivery(t *eventTable, since time.Time) {
	var first, last int64
	var e2e, total []time.Duration
	t.each(func(_ int64, c *eventChunk, i int64) {
		if !c.measured[i].Load() {
			return
		}
		got := c.received[i].Load()
		if got == 0 {
			return
		}
		s.Delivered++
		if first == 0 || got < first {
			first = got
		}
		last = max(last, got)
		if acked := c.acked[i].Load(); acked != 0 {
			e2e = append(e2e, time.Duration(max(got-acked, 0)))
		}
		if sent := c.sent[i].Load(); sent != 0 {
			total = append(total, time.Duration(max(got-sent, 0)))
		}
	})
	s.Duplicates = t.nDup.Load()
	if s.Errors == nil {
		s.Errors = map[string]int64{}
	}
	for k, v := range t.receiverErrors() {
		s.Errors[k] += v
	}
	if s.Delivered == 0 {
		return
	}
	from := t.timeOf(first)
	if !since.IsZero() {
		from = since
	}
	if secs := t.timeOf(last).Sub(from).Seconds(); secs > 0 && s.Delivered > 1 {
		s.DeliveredPerS = round(float64(s.Delivered)/secs, 1)
	} else if s.DurationS > 0 {
		s.DeliveredPerS = round(float64(s.Delivered)/s.DurationS, 1)
	}
	if len(e2e) > 0 {
		sum := summarize(e2e)
		s.E2EP50MS, s.E2EP99MS, s.E2EMaxMS = ptr(ms(sum.p50)), ptr(ms(sum.p99)), ptr(ms(sum.max))
	}
	if len(total) > 0 {
		sum := summarize(total)
		s.SendToPushP50MS, s.SendToPushP99MS, s.SendToPushMaxMS = ptr(ms(sum.p50)), ptr(ms(sum.p99)), ptr(ms(sum.max))
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people: one line per scenario, then
// errors, notes, crash checks and memory trends below it.
func (r *Report) WriteTable(w io.Writer) error {
	sync := ""
	if r.BusSync != "" {
		sync = ", bus.sync " + r.BusSync
	}
	fmt.Fprintf(w, "weir %s, %s, %s, %d CPUs, started %s%s\n\n", r.Machine.WeirVersion, r.Machine.Go, r.Machine.OS,
		r.Machine.CPUs, r.StartedAt.Format(time.RFC3339), sync)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttarget\trate/s\tconns\tsecs\tsent\taccepted\taccepted/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\t"+
		"delivered\tdelivered/s\te2e p50\te2e p99\te2e max\tsend>push p50\tsend>push p99\tdups\terrors\tpeak MiB\tcpu s\tbench cpu s\tratio\t")
	for _, s := range r.Scenarios {
		rate := "max"
		if s.Rate > 0 {
			rate = fmt.Sprintf("%.0f", s.Rate)
		}
		var errs int64
		for _, v := range s.Errors {
			errs += v
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.1f\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n",
			s.Name, s.Target, rate, s.Connections, s.DurationS, s.Sent, s.Accepted, s.AcceptedPerS,
			s.IngressP50MS, s.IngressP90MS, s.IngressP99MS, s.IngressMaxMS,
			s.Delivered, s.DeliveredPerS, opt(s.E2EP50MS, "%.2f"), opt(s.E2EP99MS, "%.2f"), opt(s.E2EMaxMS, "%.2f"),
			opt(s.SendToPushP50MS, "%.2f"), opt(s.SendToPushP99MS, "%.2f"),
			s.Duplicates, errs, opt(s.PeakRSSMB, "%.0f"), opt(s.CPUSeconds, "%.2f"), opt(s.BenchCPUSeconds, "%.2f"),
			opt(s.RatioToCeiling, "%.2f"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nlatencies in ms; e2e = push arrival - 2xx read (clamped at 0: the push can come first); "+
		"send>push = push arrival - intended send; ? = unknown or not applicable")
	for _, s := range r.Scenarios {
		var lines []string
		for _, k := range slices.Sorted(maps.Keys(s.Errors)) {
			lines = append(lines, fmt.Sprintf("error %s: %d", k, s.Errors[k]))
		}
		if c := s.Crash; c != nil {
			lines = append(lines, fmt.Sprintf("%d kills, acked %d, delivered %d, duplicates %d, lost %d",
				c.Kills, c.Acked, c.Delivered, c.Duplicates, c.Lost))
		}
		// A trend needs a few samples; short runs have only the end.
		if s.RSSMBAt20Pct != nil && s.RSSMBAtEnd != nil && len(s.RSSMBSamples) >= 3 {
			lines = append(lines, fmt.Sprintf("memory: %.0f MiB at 20%% of the window, %.0f MiB at its end; samples %s",
				*s.RSSMBAt20Pct, *s.RSSMBAtEnd, formatSamples(s.RSSMBSamples)))
		}
		for _, n := range s.Notes {
			lines = append(lines, "note: "+n)
		}
		for _, l := range lines {
			fmt.Fprintf(w, "%s: %s\n", s.Name, l)
		}
	}
	return nil
}

// opt formats a figure that may be unknown.
func opt(v *float64, format string) string {
	if v == nil {
		return "?"
	}
	return fmt.Sprintf(format, *v)
}

// formatSamples lists memory samples compactly.
func formatSamples(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// stallAfter ends a wait for deliveries that have stopped coming: with a
// --target whose subscription does not point at the receiver, nothing ever
// arrives, and waiting the whole --drain-timeout would say nothing more.
const stallAfter = 10 * time.Second

// sampler reads a process's memory and CPU at fixed times of a window: CPU
// at its start, resident memory at a fifth of it and every `every` after
// its start. The bench's own CPU is read at the start too.
type sampler struct {
	stop chan struct{}
	done chan struct{}

	mu        sync.Mutex
	cpuStart  *float64 // the process's CPU seconds at the window's start
	benchCPU0 *float64 // the bench's
	rss20     *float64 // resident MiB at a fifth of the window
	samples   []float64
}

// startSampler samples pid() (0: unknown) over [from, from+window).
func startSampler(pid func() int, from time.Time, window, every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	type mark struct {
		at   time.Time
		kind int
	}
	const (
		atStart = iota
		atFifth
		periodic
	)
	marks := []mark{{from, atStart}, {from.Add(window / 5), atFifth}}
	for t := from.Add(every); every > 0 && t.Before(from.Add(window)); t = t.Add(every) {
		marks = append(marks, mark{t, periodic})
	}
	slices.SortStableFunc(marks, func(a, b mark) int { return a.at.Compare(b.at) })
	go func() {
		defer close(s.done)
		timer := time.NewTimer(0)
		defer timer.Stop()
		<-timer.C
		for _, m := range marks {
			if d := time.Until(m.at); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-s.stop:
					return
				}
			}
			var st *procStats
			if p := pid(); p > 0 {
				if v, err := readProc(p); err == nil {
					st = &v
				}
			}
			s.mu.Lock()
			switch m.kind {
			case atStart:
				if cpu, ok := selfCPU(); ok {
					s.benchCPU0 = ptr(cpu)
				}
				if st != nil {
					s.cpuStart = ptr(st.cpuS)
				}
			case atFifth:
				if st != nil {
					s.rss20 = ptr(st.rssMB)
				}
			case periodic:
				if st != nil {
					s.samples = append(s.samples, round(st.rssMB, 1))
				}
			}
			s.mu.Unlock()
		}
	}()
	return s
}

// finish stops the sampler and puts what it read, and what pid says now, into
// sc: CPU over the window, memory samples, memory at the end.
func (s *sampler) finish(sc *Scenario, pid func() int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if cpu, ok := selfCPU(); ok && s.benchCPU0 != nil {
		sc.BenchCPUSeconds = ptr(cpu - *s.benchCPU0)
	}
	sc.RSSMBSamples = append([]float64{}, s.samples...)
	sc.RSSMBAt20Pct = s.rss20
	p := pid()
	if p <= 0 {
		return
	}
	st, err := readProc(p)
	if err != nil {
		return
	}
	sc.RSSMBSamples = append(sc.RSSMBSamples, round(st.rssMB, 1))
	sc.RSSMBAtEnd = ptr(st.rssMB)
	if s.cpuStart != nil {
		sc.CPUSeconds = ptr(st.cpuS - *s.cpuStart)
	}
}

// measure runs spec's load and fills sc with what the sender saw and with
// the process's memory and CPU (pid returns 0 when unknown).
func (r *runner) measure(ctx context.Context, sc *Scenario, spec *loadSpec, pid func() int) *loadResult {
	spec.start = time.Now()
	from, _ := spec.measureWindow()
	smp := startSampler(pid, from, spec.duration, r.o.SampleEvery)
	res := runLoad(ctx, spec)
	smp.finish(sc, pid)
	sc.DurationS = round(res.to.Sub(res.from).Seconds(), 3)
	sc.fillIngress(res)
	return res
}

// waitDelivered polls until every acked event of t has been received. It
// gives up after timeout, or when nothing new arrived for stallAfter if
// stall is set, or when alive reports that weir died. It reports whether all
// arrived.
func waitDelivered(ctx context.Context, t *eventTable, timeout time.Duration, stall bool, alive func() error) (bool, error) {
	deadline := time.Now().Add(timeout)
	seen, progressed := t.nRecv.Load(), time.Now()
	for {
		if t.allReceived() {
			return true, nil
		}
		if alive != nil {
			if err := alive(); err != nil {
				return false, err
			}
		}
		now := time.Now()
		if n := t.nRecv.Load(); n != seen {
			seen, progressed = n, now
		}
		if now.After(deadline) || (stall && now.Sub(progressed) > stallAfter) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// noteMissing records acked events that did not arrive in time.
func noteMissing(sc *Scenario, t *eventTable, waited time.Duration) {
	if lost := t.lost(); lost > 0 {
		sc.Notes = append(sc.Notes, fmt.Sprintf("%d of %d acked events had not been delivered when the bench stopped waiting (after %s)",
			lost, t.nAcked.Load(), waited.Round(time.Millisecond)))
	}
}

package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// crash is the crash run: weir under load at --rate is killed with SIGKILL
// --crash times, evenly spaced over the window, and started again at once
// on the same data directory and port, while the sender keeps going.
// Requests that fail while weir is down are errors and are not retried, so
// they were never acked. After the load the bench waits up to
// --drain-timeout for every acked event; an acked event that never arrives
// is lost, and the run returns ErrLost.
func (r *runner) crash(ctx context.Context) (*Scenario, error) {
	s, dir, err := r.newScenario(ctx, "crash", "weir", r.o.Rate)
	if err != nil {
		return nil, err
	}
	c, cfg, err := r.startWeir(ctx, dir, true, true)
	if err != nil {
		return nil, err
	}
	defer c.kill()
	r.describe(s, fmt.Sprintf("weir on %s killed %d times", cfg.addr, r.o.Crash))
	key, _ := standardKey(cfg.sourceSecret)
	t := newEventTable()
	r.recv.track(t)
	spec := r.spec("http://"+cfg.addr+"/in/bench", key, r.o.Rate, t)

	killCtx, stopKilling := context.WithCancel(ctx)
	defer stopKilling()
	var (
		wg      sync.WaitGroup
		kills   int
		killErr error
	)
	spec.start = time.Now()
	from, _ := spec.measureWindow()
	wg.Go(func() {
		for i := 1; i <= r.o.Crash; i++ {
			at := from.Add(spec.duration * time.Duration(i) / time.Duration(r.o.Crash+1))
			select {
			case <-time.After(time.Until(at)):
			case <-killCtx.Done():
				return
			}
			c.kill()
			kills++
			fmt.Fprintf(r.o.Log, "bench: crash: killed weir (%d of %d) with %d acked so far; restarting\n", i, r.o.Crash, t.nAcked.Load())
			if err := c.start(killCtx); err != nil {
				killErr = fmt.Errorf("restarting weir after kill %d: %w", i, err)
				return
			}
		}
	})
	smp := startSampler(c.pid, from, spec.duration, r.o.SampleEvery)
	res := runLoad(ctx, spec)
	smp.finish(s, c.pid)
	wg.Wait()
	s.DurationS = round(res.to.Sub(res.from).Seconds(), 3)
	s.fillIngress(res)
	if killErr != nil {
		return s, killErr
	}
	if err := c.unexpectedExit(); err != nil {
		return s, err
	}

	fmt.Fprintf(r.o.Log, "bench: crash: %d acked; waiting up to %s for all of them to be delivered\n", t.nAcked.Load(), r.o.DrainTimeout)
	waitStart := time.Now()
	if _, err := waitDelivered(ctx, t, r.o.DrainTimeout, false, c.unexpectedExit); err != nil {
		return s, err
	}
	s.fillDelivery(t, time.Time{})
	// The CPU and peak memory of every incarnation, over its whole life:
	// the window's difference would mix two processes.
	s.CPUSeconds = nil
	if st, err := c.totals(); err == nil {
		s.CPUSeconds, s.PeakRSSMB = ptr(st.cpuS), ptr(st.peakMB)
	}
	lost := t.lost()
	s.Crash = &CrashResult{Kills: kills, Acked: t.nAcked.Load(), Duplicates: t.nDup.Load(), Lost: lost}
	s.Crash.Delivered = s.Crash.Acked - lost
	if lost > 0 {
		return s, fmt.Errorf("%w: %d of %d acked events were not delivered within --drain-timeout %s (waited %s); weir's log is %s",
			ErrLost, lost, s.Crash.Acked, r.o.DrainTimeout, time.Since(waitStart).Round(time.Millisecond), c.logPath)
	}
	return s, nil
}

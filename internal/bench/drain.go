package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// drain is the push-drain scenario: it stores --drain-events events of a
// type no subscription takes (source backlog, type bench.backlog) as fast
// as it can, then creates a subscription through the API that starts with
// every stored event, and times how long weir takes to push them all. The
// scenario's ingress figures are those of storing the backlog; its delivery
// rate counts from the subscription's creation to the last arrival.
func (r *runner) drain(ctx context.Context) (*Scenario, error) {
	s, dir, err := r.newScenario(ctx, "push-drain", "weir", 0)
	if err != nil {
		return nil, err
	}
	c, cfg, err := r.startWeir(ctx, dir, false, true)
	if err != nil {
		return nil, err
	}
	defer c.kill()
	fmt.Fprintf(r.o.Log, "bench: push-drain: storing %d events on weir %s, %d connections\n", r.o.DrainEvents, cfg.addr, r.o.Connections)
	key, _ := standardKey(cfg.backlogSecret)
	t := newEventTable()
	r.recv.track(t)
	spec := r.spec("http://"+cfg.addr+"/in/backlog", key, 0, t)
	spec.count = int64(r.o.DrainEvents)
	spec.warmup, spec.duration = 0, 0
	res := runLoad(ctx, spec)
	s.DurationS = round(res.to.Sub(res.from).Seconds(), 3)
	s.fillIngress(res)
	if err := c.unexpectedExit(); err != nil {
		return s, err
	}
	if ctx.Err() != nil {
		return s, ctx.Err()
	}

	fmt.Fprintf(r.o.Log, "bench: push-drain: %d stored; subscribing with start all\n", t.nAcked.Load())
	cpu0, cpuErr := c.stats()
	bench0, benchOK := selfCPU()
	created := time.Now()
	if err := createSubscription(ctx, cfg, r.recv.url("/drain"), r.pushSecret); err != nil {
		return s, err
	}
	all, err := waitDelivered(ctx, t, r.o.DrainTimeout, true, c.unexpectedExit)
	if err != nil {
		return s, err
	}
	if !all {
		noteMissing(s, t, time.Since(created))
		r.saveDiagnostics(ctx, cfg, dir)
	}
	s.fillDelivery(t, created)
	// The events waited in the backlog by design: their end-to-end time says
	// how long the backlog was, not how fast weir is.
	s.E2EP50MS, s.E2EP99MS, s.E2EMaxMS = nil, nil, nil
	s.SendToPushP50MS, s.SendToPushP99MS, s.SendToPushMaxMS = nil, nil, nil
	if st, err := c.stats(); err == nil {
		s.PeakRSSMB = ptr(st.peakMB)
		s.RSSMBAtEnd = ptr(st.rssMB)
		s.RSSMBSamples = []float64{round(st.rssMB, 1)}
		if cpuErr == nil {
			s.CPUSeconds = ptr(st.cpuS - cpu0.cpuS)
		}
	}
	if bench1, ok := selfCPU(); ok && benchOK {
		s.BenchCPUSeconds = ptr(bench1 - bench0)
	}
	s.Notes = append(s.Notes, fmt.Sprintf("ingress figures are for storing the backlog; cpu s covers the drain (%.2fs)",
		time.Since(created).Seconds()))
	return s, nil
}

// createSubscription creates the drain subscription through the API, as
// docs/subscriptions.md shows it.
func createSubscription(ctx context.Context, cfg weirConfig, url, secret string) error {
	body, err := json.Marshal(map[string]any{
		"name":  "drain",
		"types": []string{"bench.backlog"},
		"start": "all",
		"push":  map[string]any{"url": url, "secret": secret, "max_in_flight": 64},
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+cfg.addr+"/v1/subscriptions", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("creating the drain subscription: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
		return fmt.Errorf("creating the drain subscription: weir answered %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

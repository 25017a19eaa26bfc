package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery/backoff"
	"github.com/weir-dev/weir/internal/delivery/filter"
	"github.com/weir-dev/weir/internal/event"
)

// result is what one attempt ended with.
type result struct {
	attempt    deadletter.Attempt
	ok         bool          // 2xx
	gone       bool          // 410
	retryAfter time.Duration // from Retry-After on 429/503
	throttled  bool          // the answer carried a usable Retry-After
	delay      time.Duration // before the next attempt
	aborted    bool          // weir stopped during the attempt
}

// handle delivers one event of an unordered subscription: one attempt now, and
// on failure a delayed redelivery by the server (NakWithDelay), so no slot is
// held while waiting hours for a retry. The attempt is sent under sending,
// which a halt does not cancel (see Sub.start).
func (s *Sub) handle(ctx, sending context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		s.settle(msg, msg.Term)
		return
	}
	if !s.selects(ctx, msg, meta) {
		return
	}
	n := int(meta.NumDelivered)
	if s.tooOld(ctx, msg, meta, n) {
		return
	}
	if !s.gate(ctx) {
		return // stopping or disabled: the event goes back to the bus
	}
	r := s.attempt(sending, msg, n)
	switch {
	case r.aborted:
		return // stopping: handed back to the bus, not counted against the app
	case r.ok:
		s.settle(msg, msg.Ack)
	case r.gone:
		s.disableGone(sending, msg, r)
	case n >= s.spec.Push.MaxAttempts:
		s.deadLetter(ctx, msg, meta, r, attemptsFailed(n))
	default:
		s.settle(msg, func() error { return msg.NakWithDelay(r.delay) })
	}
}

// handleOrdered delivers one event of an ordered subscription. Retries happen
// here, holding the key, so that no later event of the same key overtakes it.
func (s *Sub) handleOrdered(ctx, sending context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		s.settle(msg, msg.Term)
		return
	}
	if !s.selects(ctx, msg, meta) {
		return
	}
	for n := int(meta.NumDelivered); ; n++ {
		if s.tooOld(ctx, msg, meta, n) {
			return
		}
		if !s.gate(ctx) {
			return
		}
		r := s.attempt(sending, msg, n)
		switch {
		case r.aborted:
			return
		case r.ok:
			s.settle(msg, msg.Ack)
			return
		case r.gone:
			s.disableGone(sending, msg, r)
			return
		case n >= s.spec.Push.MaxAttempts:
			s.deadLetter(ctx, msg, meta, r, attemptsFailed(n))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.delay):
		}
	}
}

// selects applies the filter; a skipped event is acknowledged. An event the
// filter cannot judge (over its bounds, or data it cannot decode) becomes a
// dead letter instead: skipping it would hide it from the app without trace.
func (s *Sub) selects(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata) bool {
	if s.filter == nil {
		return true
	}
	ok, err := s.match(msg.Data())
	if ok {
		return true
	}
	if err != nil && unjudged(err) {
		s.deadLetterFilter(ctx, msg, meta, err)
		return false
	}
	s.m.metrics.outcome(s.name, "filtered")
	s.settle(msg, msg.Ack)
	return false
}

// match runs the filter on an event as stored, counting its failures.
func (s *Sub) match(data []byte) (bool, error) {
	ev, err := event.Decode(data)
	if err != nil {
		err = fmt.Errorf("filter: %w: the event does not decode: %w", filter.ErrData, err)
	} else {
		var ok bool
		if ok, err = s.filter.Match(&ev); ok {
			return true, nil
		}
	}
	if err != nil {
		s.m.metrics.filterErrors.WithLabelValues(s.name, filterErrorReason(err)).Inc()
	}
	return false, err
}

// unjudged reports whether a filter error leaves the event unjudged, as
// opposed to not matched.
func unjudged(err error) bool {
	return errors.Is(err, filter.ErrLimit) || errors.Is(err, filter.ErrData)
}

// filterErrorClass is the attempt's error class for an event the filter
// could not judge.
func filterErrorClass(err error) string {
	if errors.Is(err, filter.ErrData) {
		return deadletter.ClassFilterData
	}
	return deadletter.ClassFilterLimit
}

// filterErrorReason is the reason label of weir_filter_errors_total.
func filterErrorReason(err error) string {
	switch {
	case errors.Is(err, filter.ErrLimit):
		return "limit"
	case errors.Is(err, filter.ErrData):
		return "undecodable"
	}
	return "evaluation"
}

// deadLetterFilter keeps an event the filter could not judge.
func (s *Sub) deadLetterFilter(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, err error) {
	r := result{}
	r.attempt.Subscription, r.attempt.EventID = s.name, msg.Headers().Get(bus.HeaderEventID)
	r.attempt.Number, r.attempt.At, r.attempt.Outcome = int(meta.NumDelivered), time.Now().UTC(), OutcomeDeadLetter
	r.attempt.Error, r.attempt.ErrorClass = err.Error(), filterErrorClass(err)
	reason, guidance := explainFilter(s.name, err)
	s.storeDeadLetter(context.WithoutCancel(ctx), msg, meta, r, []deadletter.Attempt{r.attempt}, reason, guidance)
}

// settle answers the bus for msg, which this worker no longer holds.
func (s *Sub) settle(msg jetstream.Msg, answer func() error) {
	s.held.remove(msg)
	_ = answer()
}

// selectsData applies the filter without acknowledging anything. It is for
// views of the subscription (the SSE stream), which must not dead-letter
// what the subscription's own consumer will: an event the filter cannot
// judge is left out, and said so through notice.
func (s *Sub) selectsData(data []byte, notice func(string) error) (bool, error) {
	if s.filter == nil {
		return true, nil
	}
	ev, err := event.Decode(data)
	if err != nil {
		// As the subscription's own reader does (match), an event the
		// filter cannot read is unjudged, not "not matched".
		return false, notice("an event is left out: the filter cannot read it: " + err.Error())
	}
	ok, err := s.filter.Match(&ev)
	if err != nil && unjudged(err) {
		return false, notice(fmt.Sprintf("the event %s is left out: %v", ev.ID, err))
	}
	return ok, nil
}

// tooOld turns an event older than max_age into a dead letter.
func (s *Sub) tooOld(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, n int) bool {
	maxAge := s.spec.Push.MaxAge.D()
	if maxAge <= 0 || time.Since(meta.Timestamp) <= maxAge {
		return false
	}
	at := deadletter.Attempt{Subscription: s.name, SubscriptionUID: s.uid, EventID: msg.Headers().Get(bus.HeaderEventID), Number: n - 1,
		At: time.Now().UTC(), Outcome: OutcomeDeadLetter, Error: "max_age exceeded before delivery", ErrorClass: deadletter.ClassMaxAge}
	s.deadLetter(ctx, msg, meta, result{attempt: at}, fmt.Sprintf("it was still undelivered after max_age (%s)", maxAge))
	return true
}

// attempt makes one signed POST, judges it and records it.
func (s *Sub) attempt(ctx context.Context, msg jetstream.Msg, n int) result {
	p := s.spec.Push
	id := msg.Headers().Get(bus.HeaderEventID)
	r := result{attempt: deadletter.Attempt{Subscription: s.name, SubscriptionUID: s.uid, EventID: id, Number: n, At: time.Now().UTC()}}
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)

	actx, cancel := context.WithTimeout(ctx, p.Timeout.D())
	defer cancel()
	start := time.Now()
	resp, err := s.send(actx, msg.Data(), id, &r.attempt)
	r.attempt.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	s.m.metrics.attemptSeconds.WithLabelValues(s.name).Observe(time.Since(start).Seconds())
	if err != nil && ctx.Err() != nil {
		r.aborted = true // stopping; not the endpoint's fault, and not recorded
		return r
	}
	v := classify(resp, err, time.Now(), p.Timeout.D())
	switch v.breaker {
	case breakerSuccess:
		s.breaker.Success(time.Now())
	case breakerFailure:
		s.breaker.Failure(time.Now())
	}
	r.apply(v, n, p.MaxAttempts, s.backoff)
	s.m.metrics.outcome(s.name, r.attempt.Outcome)
	// The last attempt is waited for: the dead letter reads the history back.
	if err := s.m.attempts.record(context.WithoutCancel(ctx), &r.attempt, r.attempt.Outcome == OutcomeDeadLetter); err != nil {
		s.m.log.Warn("attempt not recorded", "subscription", s.name, "event_id", id, "error", err)
	}
	return r
}

// send signs body and POSTs it. It keeps the start of the answer in a and
// closes its body, so only the status and headers of the response are left
// to read.
func (s *Sub) send(ctx context.Context, body []byte, id string, a *deadletter.Attempt) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.spec.Push.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if s.signErr != nil {
		return nil, s.signErr
	}
	h, err := s.signer.Sign(body, time.Now(), id)
	if err != nil {
		return nil, err
	}
	req.Header = h
	req.Header.Set("Content-Type", event.MediaTypeStructured)
	req.Header.Set("User-Agent", "weir")
	a.Request = sentRequest(req)
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, err
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, responseKeep))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	resp.Body.Close()
	a.Status = resp.StatusCode
	a.ResponseHeaders = boundHeaders(resp.Header)
	a.Response = cutUTF8(head, responseKeep)
	return resp, nil
}

// apply writes the verdict on attempt n of maxAttempts into r, with the delay before
// the next attempt when there is one; a failed last attempt is a dead letter.
func (r *result) apply(v verdict, n, maxAttempts int, b backoff.Policy) {
	r.attempt.Outcome, r.attempt.Error, r.attempt.ErrorClass = v.outcome, v.err, v.class
	r.ok, r.gone = v.ok(), v.gone()
	r.throttled = v.outcome == OutcomeRetryAfter
	if r.throttled {
		r.retryAfter = v.retryAfter
	}
	if r.ok {
		return
	}
	if n >= maxAttempts {
		r.attempt.Outcome = OutcomeDeadLetter
		return
	}
	if r.gone {
		return
	}
	d := r.retryAfter
	if !r.throttled {
		d = b.Delay(n, jitter)
	}
	r.delay = d
	r.attempt.NextRetryIn = d.Round(time.Millisecond).String()
}

// disableGone disables the subscription: the app said it no longer exists.
// The other attempts in flight then finish, and those answered 410 too only
// hand their event back: the first one disabled the subscription.
func (s *Sub) disableGone(ctx context.Context, msg jetstream.Msg, r result) {
	s.held.add(msg) // handed back to the bus when the worker stops
	if s.disabled.Swap(true) {
		return
	}
	reason := fmt.Sprintf("the endpoint answered 410 Gone at %s, which means it no longer wants events; resume the subscription when it does", r.attempt.At.Format(time.RFC3339))
	if err := s.m.SetState(context.WithoutCancel(ctx), s.name, StateDisabled, reason); err != nil {
		s.m.log.Error("subscription not disabled", "subscription", s.name, "error", err)
	}
	s.m.log.Warn("subscription disabled", "subscription", s.name, "reason", reason)
}

// deadLetter keeps the event with its history, then stops its redelivery.
func (s *Sub) deadLetter(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, r result, why string) {
	ctx = context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case <-s.m.js.PublishAsyncComplete():
	case <-ctx.Done():
	}
	id := msg.Headers().Get(bus.HeaderEventID)
	attempts, err := s.m.attempts.List(ctx, Query{Subscription: s.name, UID: s.uid, EventID: id, Limit: 1000})
	if err != nil || len(attempts) == 0 {
		attempts = []deadletter.Attempt{r.attempt}
	}
	reason, guidance := explain(s.spec.Push.URL, r.attempt, why)
	s.storeDeadLetter(ctx, msg, meta, r, attempts, reason, guidance)
}

// deadLetterPull keeps a pull subscription's event that was never acknowledged.
func (s *Sub) deadLetterPull(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, r result) {
	reason := fmt.Sprintf("the event was handed out %d times and never acknowledged", r.attempt.Number)
	r.attempt.SubscriptionUID = s.uid
	guidance := "The app fetched this event but never acknowledged it (POST /v1/subscriptions/" + s.name + "/ack with its ack_id). Check that the app acknowledges events it has handled, then redrive this event."
	s.storeDeadLetter(ctx, msg, meta, r, []deadletter.Attempt{r.attempt}, reason, guidance)
}

func (s *Sub) storeDeadLetter(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, r result, attempts []deadletter.Attempt, reason, guidance string) {
	id := msg.Headers().Get(bus.HeaderEventID)
	trimExchanges(attempts)
	d := &deadletter.DeadLetter{
		Kind:            "undeliverable",
		Subscription:    s.name,
		SubscriptionUID: s.uid,
		EventID:         id,
		EventType:       msg.Headers().Get(bus.HeaderEventType),
		StreamSeq:       eventsSeq(msg, meta),
		Event:           append([]byte(nil), msg.Data()...),
		Reason:          reason,
		Guidance:        guidance,
		LastError:       lastError(r.attempt),
		Attempts:        attempts,
	}
	if err := s.m.dead.Add(ctx, d); err != nil {
		// Without a dead letter the event must not be dropped: leave it to the
		// server to hand out again.
		s.m.log.Error("dead letter not stored; the event will be retried", "subscription", s.name, "event_id", id, "error", err)
		s.settle(msg, func() error { return msg.NakWithDelay(time.Minute) })
		return
	}
	s.m.metrics.deadLettered(s.name)
	s.m.log.Warn("event dead-lettered", "subscription", s.name, "event_id", id, "dead_letter_id", d.ID, "reason", reason)
	s.settle(msg, func() error { return msg.TermWithReason("dead-lettered: " + d.ID) })
}

// exchangesKept is how many of a dead letter's attempts, the latest, keep
// their request and response headers. A dead letter is one bucket value and
// may hold 100 attempts; the older ones keep their status, error and body,
// and the attempts stream keeps every attempt whole.
const exchangesKept = 10

func trimExchanges(attempts []deadletter.Attempt) {
	for i := range max(0, len(attempts)-exchangesKept) {
		attempts[i].Request, attempts[i].ResponseHeaders = nil, nil
	}
}

func attemptsFailed(n int) string {
	if n == 1 {
		return "its only attempt failed"
	}
	return fmt.Sprintf("all %d attempts failed", n)
}

func lastError(a deadletter.Attempt) string {
	if a.Error != "" {
		return a.Error
	}
	if a.Status != 0 {
		return fmt.Sprintf("HTTP %d %s", a.Status, http.StatusText(a.Status))
	}
	return ""
}

package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery/backoff"
)

// verdict is what one answer (or the lack of one) means for the event, the
// breaker and the next attempt. classify makes it without side effects.
type verdict struct {
	outcome    string        // one of the Outcome* values, before the last-attempt rule
	err        string        // why no answer came, for the attempt's record; "" when one came
	class      string        // err's kind, one of deadletter's Class* values
	breaker    breakerEffect // what the answer tells the circuit breaker
	retryAfter time.Duration // when outcome is OutcomeRetryAfter: the endpoint's own delay
}

// breakerEffect is what an attempt tells the circuit breaker.
type breakerEffect int

const (
	breakerNone    breakerEffect = iota // says nothing about the endpoint's health
	breakerSuccess                      // the endpoint took the event
	breakerFailure                      // the endpoint is failing
)

// ok reports whether the endpoint took the event.
func (v verdict) ok() bool { return v.outcome == OutcomeDelivered }

// gone reports whether the endpoint said it no longer exists.
func (v verdict) gone() bool { return v.outcome == OutcomeGone }

// classify judges one attempt from the answer, or the error that came instead.
// Only the status and headers of resp are read. now dates a Retry-After given
// as a date; timeout is the attempt's, named in the error of one that ran out.
func classify(resp *http.Response, err error, now time.Time, timeout time.Duration) verdict {
	if err != nil {
		v := verdict{outcome: OutcomeFailed, err: attemptError(err, timeout), class: errorClass(err), breaker: breakerFailure}
		if errors.Is(err, ErrTargetDenied) {
			v.outcome = OutcomeDenied
		}
		return v
	}
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return verdict{outcome: OutcomeDelivered, breaker: breakerSuccess}
	case c == http.StatusGone:
		return verdict{outcome: OutcomeGone}
	case c == http.StatusTooManyRequests || c == http.StatusServiceUnavailable:
		// A throttling endpoint is alive; only real failures trip the breaker.
		if d, ok := backoff.RetryAfter(resp.Header.Get("Retry-After"), now); ok {
			return verdict{outcome: OutcomeRetryAfter, retryAfter: d}
		}
	}
	return verdict{outcome: OutcomeFailed, breaker: breakerFailure}
}

// attemptError says why no answer came, in words for the attempt's record.
func attemptError(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Sprintf("no answer within the %s timeout", timeout)
	}
	if errors.Is(err, ErrTargetDenied) {
		return err.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return "could not connect: " + dialCause(op)
	}
	return err.Error()
}

// errorClass names the kind of err in one stable word, decided by the
// error's type, for grouping dead letters by cause.
func errorClass(err error) string {
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.Is(err, ErrTargetDenied):
		return deadletter.ClassDenied
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return deadletter.ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return deadletter.ClassRefused
	case errors.As(err, &dns):
		return deadletter.ClassNoSuchHost
	case errors.As(err, &op) && op.Op == "dial":
		return deadletter.ClassConnect
	}
	return deadletter.ClassOther
}

// dialCause is the innermost reason a connection could not be made:
// "connection refused" rather than "dial tcp 127.0.0.1:1: connect: connection
// refused".
func dialCause(op *net.OpError) string {
	var dns *net.DNSError
	if errors.As(op.Err, &dns) {
		return dns.Err
	}
	var sys *os.SyscallError
	if errors.As(op.Err, &sys) {
		return sys.Err.Error()
	}
	return op.Err.Error()
}

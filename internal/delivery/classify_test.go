package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/delivery/backoff"
)

// transportErr wraps err as net/http's client does.
func transportErr(err error) error {
	return &url.Error{Op: "Post", URL: "http://app.example/hook", Err: err}
}

// dialErr wraps err as net.Dialer does when it cannot connect.
func dialErr(err error) error {
	return transportErr(&net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, Err: err})
}

func answer(status int, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: status, Header: h}
}

// TestClassify judges every kind of answer without a server or a wait: what
// the attempt records, what the breaker hears and when the next attempt is.
func TestClassify(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	const timeout = 10 * time.Second
	b := backoff.Policy{Initial: time.Second, Max: time.Hour, Jitter: -1}
	denied := fmt.Errorf("%w: 169.254.169.254 is a cloud metadata address", ErrTargetDenied)
	cases := []struct {
		name    string
		resp    *http.Response
		err     error
		n       int // attempt number, of 5
		outcome string
		errText string
		breaker breakerEffect
		delay   time.Duration
		ok      bool
		gone    bool
	}{
		{name: "200", resp: answer(200), n: 1, outcome: OutcomeDelivered, breaker: breakerSuccess, ok: true},
		{name: "204", resp: answer(204), n: 3, outcome: OutcomeDelivered, breaker: breakerSuccess, ok: true},
		{name: "2xx on the last attempt", resp: answer(202), n: 5, outcome: OutcomeDelivered, breaker: breakerSuccess, ok: true},
		{name: "410", resp: answer(410), n: 1, outcome: OutcomeGone, gone: true},
		{name: "410 on the last attempt", resp: answer(410), n: 5, outcome: OutcomeDeadLetter, gone: true},
		{name: "500", resp: answer(500), n: 1, outcome: OutcomeFailed, breaker: breakerFailure, delay: time.Second},
		{name: "500 third attempt", resp: answer(500), n: 3, outcome: OutcomeFailed, breaker: breakerFailure, delay: 4 * time.Second},
		{name: "404", resp: answer(404), n: 1, outcome: OutcomeFailed, breaker: breakerFailure, delay: time.Second},
		{name: "429 with Retry-After seconds", resp: answer(429, "Retry-After", "120"), n: 1, outcome: OutcomeRetryAfter, delay: 2 * time.Minute},
		{name: "429 with Retry-After date", resp: answer(429, "Retry-After", now.Add(time.Minute).Format(http.TimeFormat)), n: 2, outcome: OutcomeRetryAfter, delay: time.Minute},
		{name: "429 without Retry-After", resp: answer(429), n: 2, outcome: OutcomeFailed, breaker: breakerFailure, delay: 2 * time.Second},
		{name: "429 with an unreadable Retry-After", resp: answer(429, "Retry-After", "soon"), n: 1, outcome: OutcomeFailed, breaker: breakerFailure, delay: time.Second},
		{name: "503 with Retry-After", resp: answer(503, "Retry-After", "30"), n: 1, outcome: OutcomeRetryAfter, delay: 30 * time.Second},
		{name: "503 without Retry-After", resp: answer(503), n: 1, outcome: OutcomeFailed, breaker: breakerFailure, delay: time.Second},
		{name: "500 with Retry-After is not throttling", resp: answer(500, "Retry-After", "30"), n: 1, outcome: OutcomeFailed, breaker: breakerFailure, delay: time.Second},
		{name: "503 with Retry-After on the last attempt", resp: answer(503, "Retry-After", "30"), n: 5, outcome: OutcomeDeadLetter},
		{name: "500 on the last attempt", resp: answer(500), n: 5, outcome: OutcomeDeadLetter, breaker: breakerFailure},
		{
			name: "denied address", err: dialErr(denied), n: 1,
			outcome: OutcomeDenied, errText: dialErr(denied).Error(), breaker: breakerFailure, delay: time.Second,
		},
		{
			name: "denied address on the last attempt", err: dialErr(denied), n: 5,
			outcome: OutcomeDeadLetter, errText: dialErr(denied).Error(), breaker: breakerFailure,
		},
		{
			name: "timeout", err: transportErr(context.DeadlineExceeded), n: 1,
			outcome: OutcomeFailed, errText: "no answer within the 10s timeout", breaker: breakerFailure, delay: time.Second,
		},
		{
			name: "timeout while dialing", err: dialErr(fmt.Errorf("i/o timeout: %w", os.ErrDeadlineExceeded)), n: 1,
			outcome: OutcomeFailed, errText: "no answer within the 10s timeout", breaker: breakerFailure, delay: time.Second,
		},
		{
			name: "connection refused", err: dialErr(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}), n: 1,
			outcome: OutcomeFailed, errText: "could not connect: connection refused", breaker: breakerFailure, delay: time.Second,
		},
		{
			name: "unknown host", err: dialErr(&net.DNSError{Err: "no such host", Name: "app.example", IsNotFound: true}), n: 2,
			outcome: OutcomeFailed, errText: "could not connect: no such host", breaker: breakerFailure, delay: 2 * time.Second,
		},
		{
			name: "connection reset after connecting", err: transportErr(&net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}), n: 1,
			outcome: OutcomeFailed, errText: transportErr(&net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}).Error(),
			breaker: breakerFailure, delay: time.Second,
		},
		{
			name: "connection refused on the last attempt", err: dialErr(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}), n: 5,
			outcome: OutcomeDeadLetter, errText: "could not connect: connection refused", breaker: breakerFailure,
		},
		{
			name: "signing failed", err: errors.New("signing key unusable"), n: 1,
			outcome: OutcomeFailed, errText: "signing key unusable", breaker: breakerFailure, delay: time.Second,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v := classify(c.resp, c.err, now, timeout)
			require.Equal(t, c.breaker, v.breaker, "breaker")
			var r result
			r.apply(v, c.n, 5, b)
			require.Equal(t, c.outcome, r.attempt.Outcome, "outcome")
			require.Equal(t, c.errText, r.attempt.Error, "error")
			require.Equal(t, c.delay, r.delay, "delay")
			require.Equal(t, c.ok, r.ok, "ok")
			require.Equal(t, c.gone, r.gone, "gone")
			if c.delay > 0 {
				require.Equal(t, c.delay.String(), r.attempt.NextRetryIn)
			} else {
				require.Empty(t, r.attempt.NextRetryIn, "no next attempt")
			}
		})
	}
}

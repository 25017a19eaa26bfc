package weirtest

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB whose Fatalf records the failure and stops only
// the goroutine of the check it runs, not the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with r in its own goroutine and waits for it.
func (r *recorder) run(f func(tb testing.TB)) *recorder {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestEventuallyReturnsOnceTheCheckPasses(t *testing.T) {
	t.Parallel()
	calls := 0
	r := (&recorder{TB: t}).run(func(tb testing.TB) {
		Eventually(tb, 5*time.Second, func() error {
			calls++
			if calls < 3 {
				return errors.New("not yet")
			}
			return nil
		})
	})
	require.Empty(t, r.failed)
	require.Equal(t, 3, calls)
}

func TestEventuallyFailsWithTheLastError(t *testing.T) {
	t.Parallel()
	calls := 0
	r := (&recorder{TB: t}).run(func(tb testing.TB) {
		Eventually(tb, 0, func() error {
			calls++
			return fmt.Errorf("attempt %d failed", calls)
		})
	})
	require.Contains(t, r.failed, fmt.Sprintf("attempt %d failed", calls), "the last error is reported")

	r = (&recorder{TB: t}).run(func(tb testing.TB) {
		EventuallyTrue(tb, 0, func() bool { return false }, "the flag is set")
	})
	require.Contains(t, r.failed, "the flag is set")
}

func TestLockedBufferTakesConcurrentWrites(t *testing.T) {
	t.Parallel()
	var b LockedBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	require.Len(t, b.String(), 800)
}

package weirtest

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Weir is `weir serve` run as its own process on a configuration file, for
// tests that kill it with SIGKILL and start it again. The test's cleanup
// kills it.
type Weir struct {
	t    testing.TB
	bin  string
	conf string
	addr string
	out  io.Writer
	cmd  *exec.Cmd
	done chan struct{}
}

// Serve starts bin (BuildWeir's binary) as `weir serve --config conf`, which
// must listen on addr, writing its output to out (io.Discard when nil), and
// waits until GET /readyz answers 200.
func Serve(t testing.TB, bin, conf, addr string, out io.Writer) *Weir {
	t.Helper()
	if out == nil {
		out = io.Discard
	}
	w := &Weir{t: t, bin: bin, conf: conf, addr: addr, out: out}
	w.Start()
	t.Cleanup(w.Kill)
	return w
}

// Start starts the process again after Kill, and waits until it is ready.
func (w *Weir) Start() {
	w.t.Helper()
	cmd := exec.Command(w.bin, "serve", "--config", w.conf)
	cmd.Stdout, cmd.Stderr = w.out, w.out
	if err := cmd.Start(); err != nil {
		w.t.Fatalf("start weir: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	w.cmd, w.done = cmd, done
	Eventually(w.t, time.Minute, func() error {
		select {
		case <-done:
			return fmt.Errorf("weir exited at start")
		default:
		}
		resp, err := http.Get("http://" + w.addr + "/readyz")
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
}

// Kill sends SIGKILL and waits for the process to end; killing a process
// that has ended does nothing.
func (w *Weir) Kill() {
	if w.cmd == nil {
		return
	}
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.done
	w.cmd = nil
}

// FreeAddr finds a free port on 127.0.0.1. Another process could take it
// before the test binds it; the start then fails with that process's error.
func FreeAddr(t testing.TB) string { return freeAddr(t) }

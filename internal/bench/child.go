package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const (
	// readyTimeout bounds how long a child may take to start.
	readyTimeout = 30 * time.Second
	// pollEvery is the pace of every wait that polls.
	pollEvery = 20 * time.Millisecond
)

// procStats is what the operating system says about one process.
type procStats struct {
	rssMB  float64 // resident memory now (VmRSS)
	peakMB float64 // the largest resident memory so far (VmHWM)
	cpuS   float64 // user and system CPU seconds so far
}

// child is a process started by the bench: weir serve, or the bare server.
// A crash run kills it and starts it again with the same arguments; every
// incarnation writes to the same log.
type child struct {
	name    string   // "weir" or "bare server", for messages
	bin     string   // the executable
	args    []string // its arguments
	logPath string   // standard error (and output) of every incarnation
	addr    string   // host:port it serves on; the bare server reports it

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the current incarnation has exited
	waitErr  error         // how it exited
	killed   bool          // the bench killed the current incarnation
	pastCPU  float64       // CPU seconds of the incarnations killed so far
	pastPeak float64       // their largest peak resident memory
}

// startWeir writes cfg to dir/weir.yaml, starts `weir serve` on it and
// waits until it is ready.
func startWeir(ctx context.Context, bin, dir, cfg, addr string) (*child, error) {
	path := filepath.Join(dir, "weir.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	c := &child{name: "weir", bin: bin, args: []string{"serve", "--config", path},
		logPath: filepath.Join(dir, "weir.log"), addr: addr}
	if err := c.start(ctx); err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

// start runs a new incarnation and waits until it answers GET /readyz.
func (c *child) start(ctx context.Context) error {
	log, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close() // the child has its own copy
	fmt.Fprintf(log, "--- weir bench: starting %s at %s\n", c.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.bin, c.args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = childAttrs()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s (%s): %w", c.name, c.bin, err)
	}
	c.launched(cmd)
	return c.waitReady(ctx)
}

// launched takes over a started command and reaps it when it exits.
func (c *child) launched(cmd *exec.Cmd) {
	exited := make(chan struct{})
	c.mu.Lock()
	c.cmd, c.exited, c.killed, c.waitErr = cmd, exited, false, nil
	c.mu.Unlock()
	go func() {
		err := cmd.Wait()
		c.mu.Lock()
		c.waitErr = err
		c.mu.Unlock()
		close(exited)
	}()
}

// waitReady polls GET /readyz until it answers 200, the child exits, or
// readyTimeout passes.
func (c *child) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		if err := c.unexpectedExit(); err != nil {
			return err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addr+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not become ready on %s within %s; its log is %s%s",
				c.name, c.addr, readyTimeout, c.logPath, c.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// pid is the current incarnation's process id.
func (c *child) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmd.Process.Pid
}

// unexpectedExit says how the current incarnation ended if it ended without
// the bench killing it, with the path of its log; nil while it runs.
func (c *child) unexpectedExit() error {
	c.mu.Lock()
	exited, killed := c.exited, c.killed
	c.mu.Unlock()
	select {
	case <-exited:
	default:
		return nil
	}
	if killed {
		return nil
	}
	c.mu.Lock()
	why := c.waitErr
	c.mu.Unlock()
	if why == nil {
		why = errors.New("exit status 0")
	}
	return fmt.Errorf("%s exited unexpectedly (%v); its log is %s%s", c.name, why, c.logPath, c.logTail())
}

// stats reads the current incarnation's memory and CPU.
func (c *child) stats() (procStats, error) { return readProc(c.pid()) }

// totals adds up every incarnation: CPU seconds of all, and the largest
// peak resident memory of any.
func (c *child) totals() (procStats, error) {
	st, err := c.stats()
	c.mu.Lock()
	defer c.mu.Unlock()
	st.cpuS += c.pastCPU
	st.peakMB = max(st.peakMB, c.pastPeak)
	return st, err
}

// kill ends the current incarnation with SIGKILL and waits until it is gone;
// its CPU time and peak memory are kept for totals.
func (c *child) kill() {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	st, err := readProc(cmd.Process.Pid)
	c.mu.Lock()
	c.killed = true
	if err == nil {
		c.pastCPU += st.cpuS
		c.pastPeak = max(c.pastPeak, st.peakMB)
	}
	c.mu.Unlock()
	_ = cmd.Process.Kill()
	<-exited
}

// logTail is the end of the child's log, indented, for error messages.
func (c *child) logTail() string {
	f, err := os.Open(c.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > 2048 {
		_, _ = f.Seek(-2048, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return "; it ends:\n    " + strings.Join(lines, "\n    ")
}

// startBare starts `weir bench bare-server` and reads the address it prints
// as its first line.
func startBare(ctx context.Context, bin, dir string) (*child, error) {
	c := &child{name: "bare server", bin: bin, args: []string{"bench", "bare-server"},
		logPath: filepath.Join(dir, "bare-server.log")}
	log, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(c.bin, c.args...)
	cmd.Stderr = log
	cmd.SysProcAttr = childAttrs()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the bare server (%s bench bare-server): %w", bin, err)
	}
	c.launched(cmd)
	first := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		line, _ := r.ReadString('\n')
		first <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, r) // until it exits
	}()
	select {
	case c.addr = <-first:
	case <-time.After(readyTimeout):
	case <-ctx.Done():
		c.kill()
		return nil, ctx.Err()
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		c.kill()
		return nil, fmt.Errorf("the bare server printed %q instead of its address; is %s a weir binary with `weir bench`? its log is %s%s",
			c.addr, bin, c.logPath, c.logTail())
	}
	// It printed its address after it began to listen: it is ready.
	return c, nil
}

// weirConfig is what the bench's weir.yaml says.
type weirConfig struct {
	dataDir       string
	addr          string
	token         string // the admin token's secret
	sourceSecret  string // source bench
	backlogSecret string // source backlog
	pushURL       string // subscription bench's receiver; empty: no subscription
	pushSecret    string
	crash         bool   // quick retries, many attempts: a restart must not make dead letters
	busSync       string // bus.sync; empty: weir's default
}

// yaml renders the configuration. Every value is quoted: secrets are base64
// and may hold characters YAML would read otherwise.
func (w weirConfig) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %q\nserver: {addr: %q}\nlog: {level: warn}\n", w.dataDir, w.addr)
	if w.busSync != "" {
		fmt.Fprintf(&b, "bus: {sync: %q}\n", w.busSync)
	}
	fmt.Fprintf(&b, "tokens: [{name: bench, secret: %q, roles: [admin]}]\n", w.token)
	fmt.Fprintf(&b, "sources:\n")
	fmt.Fprintf(&b, "  bench: {verify: {scheme: standard-webhooks, secrets: [%q]}, type: bench.event}\n", w.sourceSecret)
	fmt.Fprintf(&b, "  backlog: {verify: {scheme: standard-webhooks, secrets: [%q]}, type: bench.backlog}\n", w.backlogSecret)
	if w.pushURL == "" {
		return b.String()
	}
	retry := ""
	if w.crash {
		retry = ", retry: {initial: 50ms, max: 500ms}, max_attempts: 50"
	}
	fmt.Fprintf(&b, "subscriptions:\n  bench:\n    types: [bench.event]\n")
	fmt.Fprintf(&b, "    push: {url: %q, secret: %q, max_in_flight: 64%s}\n", w.pushURL, w.pushSecret, retry)
	return b.String()
}

// newWhsec is a new Standard Webhooks secret: whsec_ and base64 of 24
// random bytes.
func newWhsec() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// newToken is a new API token secret, 32 hex digits.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freeAddr finds a free loopback port. Another process could take it before
// weir binds it; the start then fails with weir's own message.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// saveDiagnostics keeps what weir says about itself when deliveries are
// missing: its goroutines (where a stalled worker waits) and the
// subscriptions' state, in dir, for --keep. Failures are only reported.
func (r *runner) saveDiagnostics(ctx context.Context, cfg weirConfig, dir string) {
	if !r.o.Keep {
		return
	}
	for name, path := range map[string]string{
		"goroutines.txt":     "/debug/pprof/goroutine?debug=2",
		"subscriptions.json": "/v1/subscriptions",
	} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+cfg.addr+path, nil)
		if err != nil {
			continue
		}
		req.Header.Set("Authorization", "Bearer "+cfg.token)
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			fmt.Fprintf(r.o.Log, "bench: diagnostics: %s: %v\n", path, err)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o600)
		}
		if err != nil {
			fmt.Fprintf(r.o.Log, "bench: diagnostics: %s: %v\n", name, err)
		}
	}
}

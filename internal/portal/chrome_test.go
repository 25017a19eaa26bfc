package portal_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// chrome is a headless Chromium driven through the DevTools protocol, that
// records every console error, uncaught exception and browser log error
// (a Content-Security-Policy violation is one) and takes screenshots.
type chrome struct {
	t      *testing.T
	ctx    context.Context
	shots  string
	mu     sync.Mutex
	errors []string
	// expected are pages answered 4xx on purpose (a refused form, a page
	// the viewer may not see): the browser logs their status as an error.
	expected []string
}

// chromiumPath is the browser the tests drive: Debian's chromium, which the
// test command installs.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("WEIR_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("the portal's browser tests need Chromium: run ./scripts/test, which installs it, or apt-get install -y chromium")
	return ""
}

// screenshotDir is where the run keeps its screenshots: $WEIR_SCREENSHOTS
// when set (the test command sets it and prints it), else a new temporary
// folder named in the test log.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("WEIR_SCREENSHOTS")
	if dir == "" {
		var err error
		dir, err = os.MkdirTemp("", "weir-screenshots-")
		require.NoError(t, err)
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("screenshots in %s", dir)
	return dir
}

func newChrome(t *testing.T) *chrome {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	c := &chrome{t: t, ctx: ctx, shots: screenshotDir(t)}
	// The browser starts, and the console is watched from its first page.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	watchCtx, stopWatch := context.WithCancel(ctx)
	messages := chromedp.Console(watchCtx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				if m.Source == "network" && strings.Contains(m.Text, "status of 4") && c.isExpected(m.URL) {
					continue
				}
				c.record(fmt.Sprintf("%s (%s) %s:%d: %s", m.Type, m.Source, m.URL, m.Line+1, m.Text))
			}
		}
	}()
	t.Cleanup(func() { stopWatch(); <-done; cancelCtx(); cancelAlloc() })
	return c
}

// expect4xx says that the page at path will be answered 4xx on purpose.
func (c *chrome) expect4xx(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expected = append(c.expected, path)
}

func (c *chrome) isExpected(u string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.expected {
		if strings.HasSuffix(u, p) {
			return true
		}
	}
	return false
}

func (c *chrome) record(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errors = append(c.errors, s)
}

// consoleErrors are the errors recorded so far.
func (c *chrome) consoleErrors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errors...)
}

// do runs actions with a deadline.
func (c *chrome) do(actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	require.NoError(c.t, chromedp.Do(ctx, actions...))
}

// text is the visible text of the first element matching the CSS selector sel.
func (c *chrome) text(sel string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(c.t, err, sel)
	return s
}

// waitText waits until the element matching sel shows text matching re.
func (c *chrome) waitText(sel string, re *regexp.Regexp) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	var s string
	var err error
	for {
		if c.count(sel) > 0 {
			short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
			s, err = chromedp.Run(short, chromedp.Text(chromedp.CSS(sel)))
			cancelShort()
			if err == nil && re.MatchString(s) {
				return s
			}
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("%s never showed %s; last text %q (error %v)", sel, re, s, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// shoot saves the page at desktop and at phone width as name-desktop.png and
// name-phone.png.
func (c *chrome) shoot(name string) {
	c.t.Helper()
	for _, size := range []struct {
		label string
		w, h  int64
		phone bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		emulate := chromedp.EmulateViewport(size.w, size.h)
		if size.phone {
			emulate = chromedp.EmulateViewport(size.w, size.h, chromedp.EmulateScale(2), chromedp.EmulateMobile)
		}
		c.do(emulate)
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		require.NoError(c.t, err)
		require.NoError(c.t, os.WriteFile(filepath.Join(c.shots, name+"-"+size.label+".png"), buf, 0o644))
	}
	c.do(chromedp.EmulateViewport(1280, 900))
}

// location is the page's URL.
func (c *chrome) location() string {
	c.t.Helper()
	u, err := chromedp.Run(c.ctx, chromedp.Location())
	require.NoError(c.t, err)
	return u
}

// count counts the elements matching the CSS selector sel, now.
func (c *chrome) count(sel string) int {
	c.t.Helper()
	n, err := chromedp.Run(c.ctx, chromedp.Evaluate[int]("document.querySelectorAll("+strconv.Quote(sel)+").length"))
	require.NoError(c.t, err)
	return n
}

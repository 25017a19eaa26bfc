// Package weirtest holds the helpers weir's tests share: polling with a
// deadline, a log buffer safe for many goroutines, and the weir binary built
// once per test run.
//
// It imports no weir package, so any package's tests may use it. Starting a
// server stays in internal/server's tests (setup_test.go): a helper here that
// imported internal/server would make an import cycle for those tests.
package weirtest

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Eventually calls check until it returns nil, every 10 ms, and fails the
// test with check's last error if that has not happened within the given
// time.
func Eventually(t testing.TB, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done within %s: %v", within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// EventuallyTrue is Eventually for a condition: it fails with msg.
func EventuallyTrue(t testing.TB, within time.Duration, cond func() bool, msg string) {
	t.Helper()
	Eventually(t, within, func() error {
		if cond() {
			return nil
		}
		return errors.New(msg)
	})
}

// LockedBuffer is a bytes.Buffer that goroutines may write while a test reads
// it: a log destination for a running node.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Logger is a debug-level logger that keeps its lines in memory and shows
// them if the test fails.
func Logger(t testing.TB) *slog.Logger {
	buf := &LockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// WeirPackage is the import path of weir's main package.
const WeirPackage = "github.com/weir-dev/weir/cmd/weir"

var build struct {
	once sync.Once
	dir  string
	bin  string
	out  []byte
	err  error
}

// BuildWeir compiles the weir binary the first time a test of this run asks
// for it and returns its path; later calls reuse it. Under -short it skips
// the test instead: building takes a while. The binary lives in a
// temporary directory that Main removes when the run ends, so a package whose
// tests call BuildWeir runs them through Main from its TestMain.
func BuildWeir(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the weir binary")
	}
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "weirtest-")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "weir")
		build.out, build.err = exec.Command("go", "build", "-o", build.bin, WeirPackage).CombinedOutput()
	})
	if build.err != nil {
		t.Fatalf("build weir: %v\n%s", build.err, build.out)
	}
	return build.bin
}

// Main runs the package's tests and then removes the binary BuildWeir built;
// call it from TestMain: func TestMain(m *testing.M) { weirtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

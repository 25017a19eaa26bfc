package weirtest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ClickHouseBinary is Debian's ClickHouse server, which scripts/test installs.
const ClickHouseBinary = "/usr/sbin/clickhouse-server"

// ClickHouse is a private ClickHouse server for one test: its own data
// directory under t.TempDir() and its own ports on 127.0.0.1. The test's
// cleanup stops it.
type ClickHouse struct {
	// NativeAddr is host:port of the native protocol (clickhouse-go).
	NativeAddr string
	// HTTPAddr is host:port of the HTTP interface.
	HTTPAddr string

	t    testing.TB
	dir  string
	conf string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartClickHouse starts a private server and waits until it answers. It
// fails the test when the server is not installed: scripts/test installs it.
func StartClickHouse(t testing.TB) *ClickHouse {
	t.Helper()
	if _, err := os.Stat(ClickHouseBinary); err != nil {
		t.Fatalf("%s is not installed; scripts/test installs it (apt-get install -y clickhouse-server clickhouse-client)", ClickHouseBinary)
	}
	dir := t.TempDir()
	c := &ClickHouse{t: t, dir: dir, NativeAddr: freeAddr(t), HTTPAddr: freeAddr(t)}
	_, native, _ := net.SplitHostPort(c.NativeAddr)
	_, httpPort, _ := net.SplitHostPort(c.HTTPAddr)
	c.conf = filepath.Join(dir, "config.xml")
	conf := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%[1]s/log/server.log</log><errorlog>%[1]s/log/error.log</errorlog><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>%[2]s</http_port>
  <tcp_port>%[3]s</tcp_port>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path>
  <format_schema_path>%[1]s/format_schemas/</format_schema_path>
  <users_config>/etc/clickhouse-server/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <timezone>UTC</timezone>
</yandex>
`, dir, httpPort, native)
	if err := os.WriteFile(c.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

// Start starts the server again on the same ports and data (after Stop) and
// waits until it answers.
func (c *ClickHouse) Start() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return
	}
	cmd := exec.Command(ClickHouseBinary, "--config-file="+c.conf)
	cmd.Dir = c.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start clickhouse: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := c.query("SELECT 1"); err == nil {
			break
		}
		select {
		case <-done:
			logs, _ := os.ReadFile(filepath.Join(c.dir, "log", "error.log"))
			c.t.Fatalf("clickhouse exited at start: %s\n%s", out.String(), logs)
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			c.t.Fatalf("clickhouse did not answer within 60s: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.cmd, c.done = cmd, done
}

// Stop kills the server and waits for it. A SIGTERM makes 18.16 wait 10 s
// for connections to end; a kill loses nothing the server acknowledged, since
// an insert's part is written to its files before the insert returns.
// Stopping a stopped server does nothing.
func (c *ClickHouse) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
	c.cmd, c.done = nil, nil
}

// Query runs one statement over HTTP and returns its answer (TabSeparated
// unless the statement says FORMAT). It fails the test on an error.
func (c *ClickHouse) Query(t testing.TB, sql string) string {
	t.Helper()
	out, err := c.query(sql)
	if err != nil {
		t.Fatalf("clickhouse: %s: %v", sql, err)
	}
	return out
}

// TryQuery is Query returning the error, for polling.
func (c *ClickHouse) TryQuery(sql string) (string, error) { return c.query(sql) }

func (c *ClickHouse) query(sql string) (string, error) {
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post("http://"+c.HTTPAddr+"/?"+url.Values{"database": {"default"}}.Encode(), "text/plain", strings.NewReader(sql))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// freeAddr finds a free port on 127.0.0.1.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

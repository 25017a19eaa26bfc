package weirtest

import (
	"database/sql"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the driver behind MariaDB.DB
)

// MariaDBBinary is Debian's MariaDB server, which scripts/test installs.
const MariaDBBinary = "/usr/sbin/mariadbd"

// MariaDB is a private MariaDB server for one test: its own data directory
// under t.TempDir(), its own port on 127.0.0.1, a row-based binlog with full
// row images and full row metadata (column names in TABLE_MAP events),
// server id 1 and root without a password. The test's cleanup kills it.
type MariaDB struct {
	// Addr is host:port of the server.
	Addr string

	t    testing.TB
	dir  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *LockedBuffer
}

// StartMariaDB creates a data directory, starts a server on it and waits
// until it accepts connections. It fails the test when MariaDB is not
// installed: scripts/test installs it.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	if _, err := os.Stat(MariaDBBinary); err != nil {
		t.Fatalf("%s is not installed; scripts/test installs it (apt-get install -y mariadb-server)", MariaDBBinary)
	}
	dir := t.TempDir()
	// A private tmpdir: mariadbd deletes every #sql* file of its tmpdir when
	// it starts, so with the shared /tmp one server starting removed the
	// temporary tables another one's mariadb-install-db was using
	// ("Unknown table 'mysql.tmp_user_sys'").
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	install := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+filepath.Join(dir, "data"),
		"--user=root", "--auth-root-authentication-method=normal", "--skip-test-db", "--tmpdir="+filepath.Join(dir, "tmp"))
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	m := &MariaDB{t: t, dir: dir, Addr: freeAddr(t), out: &LockedBuffer{}}
	m.Start()
	t.Cleanup(m.Kill)
	return m
}

// DSN is the go-sql-driver DSN of root on the server, with database db
// (none when empty).
func (m *MariaDB) DSN(db string) string {
	return fmt.Sprintf("root@tcp(%s)/%s", m.Addr, db)
}

// DB opens a pool on the server (database db, none when empty); the test's
// cleanup closes it.
func (m *MariaDB) DB(t testing.TB, db string) *sql.DB {
	t.Helper()
	pool, err := sql.Open("mysql", m.DSN(db)+"?multiStatements=true&parseTime=true")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

// Exec runs statements as root and fails the test on an error.
func (m *MariaDB) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	pool, err := sql.Open("mysql", m.DSN("")+"?multiStatements=true")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, s := range stmts {
		if _, err := pool.Exec(s); err != nil {
			t.Fatalf("mariadb: %s: %v", s, err)
		}
	}
}

// Start starts the server (again, after Kill) on the same data and port and
// waits until it accepts connections.
func (m *MariaDB) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return
	}
	_, port, _ := net.SplitHostPort(m.Addr)
	data := filepath.Join(m.dir, "data")
	cmd := exec.Command(MariaDBBinary, "--no-defaults", "--datadir="+data, "--port="+port,
		"--bind-address=127.0.0.1", "--socket="+filepath.Join(m.dir, "sock"), "--tmpdir="+filepath.Join(m.dir, "tmp"), "--user=root",
		"--log-bin="+filepath.Join(data, "binlog"), "--binlog-format=ROW", "--binlog-row-image=FULL", "--binlog-row-metadata=FULL",
		"--server-id=1", "--skip-name-resolve", "--gtid-strict-mode=1",
		"--innodb-buffer-pool-size=64M", "--innodb-log-file-size=48M", "--max-connections=50",
		"--performance-schema=OFF", "--skip-log-error")
	cmd.Stdout, cmd.Stderr = m.out, m.out
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start mariadbd: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := greets(m.Addr); err == nil {
			break
		}
		select {
		case <-done:
			m.t.Fatalf("mariadbd exited at start:\n%s", m.out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			m.t.Fatalf("mariadbd did not accept connections within 60s:\n%s", m.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.cmd, m.done = cmd, done
}

// Kill sends SIGKILL and waits for the server to end, as a crash would;
// killing a killed server does nothing. InnoDB and the binlog recover at the
// next Start.
func (m *MariaDB) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
	m.cmd, m.done = nil, nil
}

// greets reports whether a server at addr sends a protocol-10 handshake: it
// accepts connections (the port opens before the server is ready to).
func greets(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	head := make([]byte, 5)
	if _, err := io.ReadFull(c, head); err != nil {
		return err
	}
	if head[4] != 10 {
		return fmt.Errorf("mariadbd answered %#x, not a handshake", head[4])
	}
	return nil
}

package weirtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresBin is where Debian's PostgreSQL 15 keeps initdb and postgres.
const PostgresBin = "/usr/lib/postgresql/15/bin"

// Postgres is a private PostgreSQL cluster for one test: its own data
// directory (owned by the postgres user, since root may not run initdb), its
// own port on 127.0.0.1, trust authentication and wal_level=logical. The
// test's cleanup stops it and removes the directory.
type Postgres struct {
	// Port is the TCP port on 127.0.0.1.
	Port int

	t        testing.TB
	dir      string
	uid, gid uint32
	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	out      *LockedBuffer
}

// StartPostgres creates a cluster with initdb and starts it. It fails the
// test when PostgreSQL 15 is not installed.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	if _, err := os.Stat(filepath.Join(PostgresBin, "postgres")); err != nil {
		t.Fatalf("PostgreSQL 15 is not installed (%s): apt-get install -y postgresql-15", PostgresBin)
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("no postgres user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// t.TempDir() belongs to root with mode 0700: the postgres user could
	// not reach a directory under it.
	dir, err := os.MkdirTemp("", "weir-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(freeAddr(t))
	p := &Postgres{t: t, dir: dir, uid: uint32(uid), gid: uint32(gid), out: &LockedBuffer{}}
	p.Port, _ = strconv.Atoi(port)
	initdb := exec.Command(filepath.Join(PostgresBin, "initdb"), "-D", p.data(), "--auth=trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: p.uid, Gid: p.gid}}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Start()
	t.Cleanup(p.stop)
	return p
}

func (p *Postgres) data() string { return filepath.Join(p.dir, "data") }

// DSN is a URL connecting as the superuser postgres to database db
// ("postgres" when empty).
func (p *Postgres) DSN(db ...string) string {
	name := "postgres"
	if len(db) > 0 && db[0] != "" {
		name = db[0]
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, name)
}

// Start starts the server (again, after Kill) on the same port and data and
// waits until it accepts connections.
func (p *Postgres) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		cmd := exec.Command(filepath.Join(PostgresBin, "postgres"), "-D", p.data(), "-p", strconv.Itoa(p.Port), "-k", p.dir,
			"-c", "wal_level=logical", "-c", "max_replication_slots=10", "-c", "max_wal_senders=10",
			"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
			"-c", "shared_buffers=32MB", "-c", "TimeZone=UTC")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: p.uid, Gid: p.gid}, Setpgid: true}
		cmd.Stdout, cmd.Stderr = p.out, p.out
		if err := cmd.Start(); err != nil {
			p.t.Fatalf("start postgres: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		if p.waitReady(done, deadline) {
			p.cmd, p.done = cmd, done
			return
		}
		select {
		case <-done:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("postgres did not start within 60s:\n%s", p.out.String())
		}
		// After a kill the old backends may still hold the shared memory
		// for a moment: the postmaster refuses to start, and a retry works.
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReady reports whether the server accepts connections before it exits
// or the deadline passes.
func (p *Postgres) waitReady(done chan struct{}, deadline time.Time) bool {
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgconn.Connect(ctx, p.DSN())
		cancel()
		if err == nil {
			_ = c.Close(context.Background())
			return true
		}
		select {
		case <-done:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

// Kill kills the server and all its processes (a crash) and waits for the
// postmaster. Killing a stopped server does nothing.
func (p *Postgres) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	p.cmd, p.done = nil, nil
}

func (p *Postgres) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	p.cmd, p.done = nil, nil
}

// Exec runs SQL (one or more statements, no parameters) on database db
// ("" for postgres) and returns the rows of the last statement as text. It
// fails the test on an error.
func (p *Postgres) Exec(t testing.TB, db, sql string) [][]string {
	t.Helper()
	rows, err := p.TryExec(db, sql)
	if err != nil {
		t.Fatalf("postgres: %s: %v", sql, err)
	}
	return rows
}

// TryExec is Exec returning the error.
func (p *Postgres) TryExec(db, sql string) ([][]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, p.DSN(db))
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	res, err := c.Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	var out [][]string
	if len(res) > 0 {
		for _, r := range res[len(res)-1].Rows {
			row := make([]string, len(r))
			for i, v := range r {
				row[i] = string(v)
			}
			out = append(out, row)
		}
	}
	return out, nil
}

package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/weirtest"
)

// The child process of TestArchiverSurvivesKill9 reads these.
const (
	childURLEnv    = "WEIR_ARCHIVE_TEST_CHILD_URL"
	childDirEnv    = "WEIR_ARCHIVE_TEST_CHILD_DIR"
	childMarkerEnv = "WEIR_ARCHIVE_TEST_CHILD_MARKER"
)

// TestArchiverChild is not a test of its own: TestArchiverSurvivesKill9 runs
// the test binary again with it, as the archiver process it kills.
func TestArchiverChild(t *testing.T) {
	url := os.Getenv(childURLEnv)
	if url == "" {
		t.Skip("the child process of TestArchiverSurvivesKill9")
	}
	nc, err := nats.Connect(url, nats.Name("archive-child"))
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	a, err := New(js, Config{Dir: os.Getenv(childDirEnv), FlushEvery: 5 * time.Millisecond},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	require.NoError(t, err)
	// Short, so that events of this run come again while it runs.
	a.ackWait = 2 * time.Second
	if marker := os.Getenv(childMarkerEnv); marker != "" {
		flushes := 0
		a.beforeCommit = func() {
			if flushes++; flushes == 20 {
				// The data of this flush is in the files and fsynced; the position
				// does not name it yet. The parent kills the process now.
				if err := os.WriteFile(marker, nil, 0o644); err != nil {
					fmt.Fprintln(os.Stderr, "marker:", err)
				}
				<-time.After(time.Minute)
			}
		}
	}
	require.NoError(t, a.Start(context.Background()))
	<-time.After(2 * time.Minute)
	t.Fatal("the parent never killed this process")
}

// A real kill -9, several times, while events are published: the parent runs
// nats-server with a TCP listener and publishes continuously; the archiver
// runs in a child process (this test binary again), killed at the worst
// moment of a flush (data durable, position not saved) or at a random one,
// and started again. In the end every published event is in the archive's
// files exactly once: no gaps, and no duplicate lines, not only after Read's
// de-duplication.
func TestArchiverSurvivesKill9(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns, err := server.NewServer(&server.Options{ServerName: "kill9", Host: "127.0.0.1", Port: -1,
		JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	require.NoError(t, err)
	go ns.Start()
	require.True(t, ns.ReadyForConnections(10*time.Second))
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	log := weirtest.Logger(t)
	b, err := bus.Open(ctx, bus.Config{URL: ns.ClientURL(), Replicas: 1, MaxAge: time.Hour, DedupeWindow: time.Hour, Name: "kill9"}, log)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	dir, signals := t.TempDir(), t.TempDir()
	started := time.Now()

	// The publisher: about 2,000 events a second, each acked before the next.
	types := []string{"order.created", "order.paid", "customer.deleted"}
	var mu sync.Mutex
	var published []string
	stopPub := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 10_000; i++ {
			if i%4 == 0 {
				select {
				case <-stopPub:
					return
				case <-tick.C:
				}
			}
			id := fmt.Sprintf("k-%05d", i)
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := b.JetStream().PublishMsg(pctx, eventMsg(types[i%3], id))
			cancel()
			if err != nil {
				t.Errorf("publish %s: %v", id, err)
				return
			}
			mu.Lock()
			published = append(published, id)
			mu.Unlock()
		}
	}()
	defer func() {
		select {
		case <-stopPub:
		default:
			close(stopPub)
		}
		<-pubDone
	}()

	childLog := &weirtest.LockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("child processes:\n%s", childLog.String())
		}
	})
	const rounds = 8
	tornRounds := 0
	for round := range rounds {
		marker := ""
		if round%2 == 0 {
			marker = filepath.Join(signals, fmt.Sprintf("in-flush-%d", round))
		}
		before, roundStart := positionSeq(dir), time.Now()
		cmd := exec.Command(os.Args[0], "-test.run=^TestArchiverChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childURLEnv+"="+ns.ClientURL(), childDirEnv+"="+dir, childMarkerEnv+"="+marker)
		cmd.Stdout, cmd.Stderr = childLog, childLog
		require.NoError(t, cmd.Start())
		if marker != "" {
			require.Eventually(t, func() bool { _, err := os.Stat(marker); return err == nil }, 30*time.Second, time.Millisecond,
				"round %d: the child reached its 20th flush", round)
		} else {
			require.Eventually(t, func() bool { return positionSeq(dir) > before+150 }, 30*time.Second, time.Millisecond,
				"round %d: the child archives", round)
			// Any moment of a run that flushes every 5 ms.
			time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err := cmd.Wait()
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "round %d: %v", round, err)
		require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal(), "round %d", round)
		if marker != "" && uncommittedBytes(t, dir) > 0 {
			tornRounds++
		}
		t.Logf("round %d: %s, position %d -> %d", round, time.Since(roundStart).Round(time.Millisecond), before, positionSeq(dir))
	}
	require.Equal(t, rounds/2, tornRounds, "each kill in a flush left written bytes that position.json does not commit")
	close(stopPub)
	<-pubDone
	mu.Lock()
	want := published
	mu.Unlock()

	// A last run, in this process, catches up and stops cleanly.
	info, err := b.Events().Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(len(want)), info.State.LastSeq, "every publish was acked")
	a, err := New(b.JetStream(), Config{Dir: dir, FlushEvery: 10 * time.Millisecond}, log)
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	finalStart := time.Now()
	waitArchived(t, a, info.State.LastSeq)
	a.Stop(context.Background())
	t.Logf("last run caught up in %s", time.Since(finalStart).Round(time.Millisecond))

	// The raw files, line by line.
	counts := map[string]int{}
	lines, dupLines := 0, 0
	for _, rel := range segmentFiles(t, dir) {
		for _, l := range rawLines(t, filepath.Join(dir, rel)) {
			id := lineID(t, l)
			counts[id]++
			lines++
			if counts[id] > 1 {
				dupLines++
			}
		}
	}
	require.Zero(t, dupLines, "raw duplicate lines")
	require.Equal(t, len(want), lines)
	for _, id := range want {
		require.Equal(t, 1, counts[id], "lines of %s", id)
	}
	require.Equal(t, want, ids(readAll(t, Config{Dir: dir}, time.Time{}, time.Time{})), "Read: every event once, in order")
	t.Logf("%d events, %d kill -9 (%d in a flush), checked in %s", len(want), rounds, tornRounds, time.Since(started).Round(time.Millisecond))
}

// positionSeq is the last_seq of dir's position file, 0 before there is one.
func positionSeq(dir string) uint64 {
	p, _, err := loadPosition(dir)
	if err != nil {
		return 0
	}
	return p.LastSeq
}

// uncommittedBytes counts the bytes of dir's open segments past their
// committed length.
func uncommittedBytes(t *testing.T, dir string) int64 {
	t.Helper()
	p, _, err := loadPosition(dir)
	require.NoError(t, err)
	var n int64
	for rel, committed := range p.Files {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel)))
		if err == nil && st.Size() > committed {
			n += st.Size() - committed
		}
	}
	return n
}

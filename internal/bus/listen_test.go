package bus

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// TestListenPortInUseFailsAtOnce: a bus.listen address another process holds
// fails the start with the address in the error, instead of waiting for a
// server that will never be ready. The context's deadline is the failure
// condition: before, Open waited 30 s whatever the context said.
func TestListenPortInUseFailsAtOnce(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	addr := l.Addr().String()

	cfg := embeddedConfig(t.TempDir())
	cfg.Listen = addr
	cfg.Credentials = Credentials{User: "weir", Password: "a-password-of-some-length"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := Open(ctx, cfg, quietLog())
	if b != nil {
		b.Close()
	}
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "Open returned before its context's deadline")
	require.Contains(t, err.Error(), "bus.listen")
	require.Contains(t, err.Error(), addr)
}

// TestListenStopsWithItsContext: a start that cannot finish ends when its
// context does (Ctrl-C), rather than after a fixed wait.
func TestListenStopsWithItsContext(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	cfg.Listen = "127.0.0.1:0"
	cfg.Credentials = Credentials{User: "weir", Password: "a-password-of-some-length"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b, err := Open(ctx, cfg, quietLog())
	if b != nil {
		b.Close()
	}
	require.ErrorIs(t, err, context.Canceled)
}

// TestListenRequiresCredentials: the exposed embedded bus refuses anonymous
// clients (which could otherwise read every stream and forge events), takes
// the configured user, and weir's own in-process connection still works.
func TestListenRequiresCredentials(t *testing.T) {
	t.Parallel()
	creds := Credentials{User: "weir", Password: "a-password-of-some-length"}
	cfg := embeddedConfig(t.TempDir())
	cfg.Listen = "127.0.0.1:0"
	cfg.Credentials = creds
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := Open(ctx, cfg, quietLog())
	require.NoError(t, err, "weir's in-process connection authenticates")
	defer b.Close()
	_, err = b.JetStream().Stream(ctx, EventsStream)
	require.NoError(t, err)

	url := b.ClientURL()
	_, err = nats.Connect(url, nats.Timeout(5*time.Second), nats.MaxReconnects(0))
	require.ErrorIs(t, err, nats.ErrAuthorization, "an anonymous client is refused")
	_, err = nats.Connect(url, nats.UserInfo(creds.User, "wrong-password"), nats.Timeout(5*time.Second), nats.MaxReconnects(0))
	require.ErrorIs(t, err, nats.ErrAuthorization, "a wrong password is refused")

	nc, err := nats.Connect(url, nats.UserInfo(creds.User, creds.Password), nats.Timeout(5*time.Second))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.Stream(ctx, EventsStream)
	require.NoError(t, err, "the credentials give access to weir's streams")
}

// TestListenWithoutCredentialsIsRefused: the bus package itself will not
// expose the server without a user, whatever its caller forgot.
func TestListenWithoutCredentialsIsRefused(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	cfg.Listen = "127.0.0.1:0"
	b, err := Open(context.Background(), cfg, quietLog())
	if b != nil {
		b.Close()
	}
	require.ErrorContains(t, err, "bus.listen")
}

// TestCredentialsFile: the generated credentials are written once, readable by
// the owner only, and read back unchanged at the next start.
func TestCredentialsFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := LoadOrCreateCredentials(dir)
	require.NoError(t, err)
	require.NotEmpty(t, c.User)
	require.GreaterOrEqual(t, len(c.Password), 32)

	path := filepath.Join(dir, CredentialsFile)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	again, err := LoadOrCreateCredentials(dir)
	require.NoError(t, err)
	require.Equal(t, c, again)
	read, err := ReadCredentials(path)
	require.NoError(t, err)
	require.Equal(t, c, read)

	// A file others can read is refused rather than used.
	require.NoError(t, os.Chmod(path, 0o644))
	_, err = ReadCredentials(path)
	require.ErrorContains(t, err, "chmod 600")

	require.NoError(t, os.Chmod(path, 0o600))
	require.NoError(t, os.WriteFile(path, []byte(`{"user":""}`), 0o600))
	_, err = ReadCredentials(path)
	require.ErrorContains(t, err, "damaged")
}

// TestCredentialsFileIgnoresAPlantedTemporaryFile: a file another user made
// ready at the old fixed temporary name (readable by all) is not written to;
// the credentials land in a file of weir's own, mode 0600.
func TestCredentialsFileIgnoresAPlantedTemporaryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	planted := filepath.Join(dir, CredentialsFile+".tmp")
	require.NoError(t, os.WriteFile(planted, nil, 0o666))
	require.NoError(t, os.Chmod(planted, 0o666))
	_, err := LoadOrCreateCredentials(dir)
	require.NoError(t, err)
	raw, err := os.ReadFile(planted)
	require.NoError(t, err)
	require.Empty(t, raw, "the password never went into the planted file")
	fi, err := os.Stat(filepath.Join(dir, CredentialsFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	left, err := filepath.Glob(filepath.Join(dir, ".bus-credentials-*"))
	require.NoError(t, err)
	require.Empty(t, left, "no temporary file is left behind")
}

// TestSyncSettingReachesTheServer: bus.sync is the embedded server's own
// fsync policy, as JetStream reports it.
func TestSyncSettingReachesTheServer(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		always   bool
		interval time.Duration
	}{{always: true}, {interval: time.Second}, {interval: 2 * time.Minute}} {
		cfg := embeddedConfig(t.TempDir())
		cfg.SyncAlways, cfg.SyncInterval = c.always, c.interval
		b, err := Open(context.Background(), cfg, quietLog())
		require.NoError(t, err)
		js := b.Embedded().JetStreamConfig()
		b.Close()
		require.NotNil(t, js)
		require.Equal(t, c.always, js.SyncAlways)
		if !c.always {
			require.Equal(t, c.interval, js.SyncInterval)
		}
	}
}

// FuzzReadCredentials: whatever the credentials file holds, reading it gives
// a user and password or an error, never a panic or an empty credential.
func FuzzReadCredentials(f *testing.F) {
	f.Add([]byte(`{"user":"weir","password":"x"}`))
	f.Add([]byte(`{"user":""}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(dir, CredentialsFile)
		require.NoError(t, os.WriteFile(path, raw, 0o600))
		c, err := ReadCredentials(path)
		if err == nil {
			require.NotEmpty(t, c.User)
			require.NotEmpty(t, c.Password)
		}
	})
}

package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBusListenMustBeLoopback: exposing the embedded bus beyond this machine
// is an error naming bus.listen unless the file says so explicitly.
func TestBusListenMustBeLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:7422", ":7422", "[::]:7422", "192.168.1.10:7422", "nats.example.com:7422"} {
		_, err := Parse([]byte("bus: {listen: '"+addr+"'}"), env(nil))
		require.ErrorContains(t, err, "bus.listen: ", addr)
		require.ErrorContains(t, err, "bus.listen_remote: true", addr)

		cfg, err := Parse([]byte("bus: {listen: '"+addr+"', listen_remote: true}"), env(nil))
		require.NoError(t, err, addr)
		require.True(t, cfg.Bus.ListenRemote)
	}
	for _, addr := range []string{"127.0.0.1:7422", "localhost:7422", "[::1]:7422", "127.0.0.1:0"} {
		_, err := Parse([]byte("bus: {listen: '"+addr+"'}"), env(nil))
		require.NoError(t, err, addr)
	}
}

func TestBusCredentialsAndSync(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("bus: {listen: '127.0.0.1:7422', user: tail, password: '${BUS_PASSWORD}'}"),
		env(map[string]string{"BUS_PASSWORD": "0123456789abcdef-secret"}))
	require.NoError(t, err)
	require.Equal(t, "tail", cfg.Bus.User)
	require.Equal(t, "0123456789abcdef-secret", cfg.Bus.Password)

	cfg, err = Parse(nil, env(nil))
	require.NoError(t, err)
	always, every, err := cfg.Bus.SyncSetting()
	require.NoError(t, err)
	require.False(t, always)
	require.Equal(t, time.Second, every, "the default: about a second of acked events at risk on an OS crash (docs/performance.md)")

	cfg, err = Parse([]byte("bus: {sync: always}"), env(nil))
	require.NoError(t, err)
	always, _, err = cfg.Bus.SyncSetting()
	require.NoError(t, err)
	require.True(t, always)

	cfg, err = Parse([]byte("bus: {sync: 1s}"), env(nil))
	require.NoError(t, err)
	_, every, err = cfg.Bus.SyncSetting()
	require.NoError(t, err)
	require.Equal(t, time.Second, every)

	cases := map[string]string{
		"bus: {listen: '127.0.0.1:7422', user: tail}":                      "bus.user: give both",
		"bus: {user: tail, password: 0123456789abcdef}":                    "bus.user: only applies with bus.listen",
		"bus: {listen: '127.0.0.1:7422', user: tail, password: short}":     "bus.password: must be at least 16",
		"bus: {listen_remote: true}":                                       "bus.listen_remote: only applies with bus.listen",
		"bus: {sync: sometimes}":                                           `bus.sync: "sometimes" is not always or a positive duration`,
		"bus: {sync: -1s}":                                                 "bus.sync:",
		"bus: {url: 'nats://x:4222', sync: always}":                        "bus.sync: only applies to the embedded bus",
		"bus: {listen: '127.0.0.1:7422', user: tail, password: '${NOPE}'}": "bus.password: environment variable NOPE is not set",
	}
	for in, want := range cases {
		_, err := Parse([]byte(in), env(nil))
		require.ErrorContains(t, err, want, in)
	}
}

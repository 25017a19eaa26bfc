package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMaxClientConnections(t *testing.T) {
	t.Parallel()
	cfg, err := Parse(nil, env(nil))
	require.NoError(t, err)
	require.Equal(t, 2500, cfg.Server.MaxClientConnections, "one address may hold a quarter of the connections")

	cfg, err = Parse([]byte("server: {max_connections: 100}"), env(nil))
	require.NoError(t, err)
	require.Equal(t, 25, cfg.Server.MaxClientConnections)

	_, err = Parse([]byte("server: {max_connections: 100, max_client_connections: 101}"), env(nil))
	require.ErrorContains(t, err, "server.max_client_connections: 101 is more than server.max_connections 100")
	_, err = Parse([]byte("server: {max_client_connections: -1}"), env(nil))
	require.ErrorContains(t, err, "server.max_client_connections: must be positive")
}

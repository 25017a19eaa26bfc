package cli

import (
	"net"
	"os"
	"strings"

	"github.com/weir-dev/weir/internal/config"
)

// envURL names the environment variable with weir's base URL, for the
// commands that talk to a running weir.
const envURL = "WEIR_URL"

// serverFlagHelp describes --server in every client command.
const serverFlagHelp = "weir's base URL (default $" + envURL + ", else http://<server.addr> of weir.yaml, else http://127.0.0.1:8080)"

// loadClientConfig reads --config, or ./weir.yaml when present, for a command
// that uses only part of it: ${NAME} variables are expanded lazily, and
// fields names what the command reads, whose variables must be set.
func loadClientConfig(path string, fields ...string) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat("weir.yaml"); err == nil {
			path = "weir.yaml"
		}
	}
	if path == "" {
		return config.Parse(nil, os.LookupEnv)
	}
	cfg, err := config.LoadLazy(path, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if err := cfg.NeedEnv(fields...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// serverURL is weir's base URL for a client command: the --server flag, else
// $WEIR_URL, else the listen address of weir.yaml (or the default one).
func serverURL(flagValue, cfgPath string) (string, error) {
	if flagValue != "" {
		return strings.TrimRight(flagValue, "/"), nil
	}
	if v := os.Getenv(envURL); v != "" {
		return strings.TrimRight(v, "/"), nil
	}
	cfg, err := loadClientConfig(cfgPath, "server.addr")
	if err != nil {
		return "", err
	}
	return "http://" + dialAddr(cfg.Server.Addr), nil
}

// dialAddr turns a listen address into one to connect to: a listener on
// every interface (":8080", "0.0.0.0:8080", "[::]:8080") is reached on
// loopback.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

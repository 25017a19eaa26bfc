package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// ServeBare is `weir bench bare-server`, the ceiling the bench compares weir
// with: a plain Go HTTP server whose handler reads the body and answers 202,
// nothing else. It listens on a free loopback port, prints the address as
// the first line of stdout, and serves until ctx ends. It runs as a process
// of its own, like weir, so that both share the machine with the bench the
// same way.
func ServeBare(ctx context.Context, stdout io.Writer) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("bare-server: %w", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusAccepted)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if _, err := fmt.Fprintln(stdout, ln.Addr().String()); err != nil {
		ln.Close()
		return fmt.Errorf("bare-server: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("bare-server: %w", err)
	case <-ctx.Done():
	}
	_ = srv.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("bare-server: %w", err)
	}
	return nil
}

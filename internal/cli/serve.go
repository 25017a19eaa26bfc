package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/weir-dev/weir/internal/server"
)

func serve(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "serve [--config FILE] [--data DIR] [--addr HOST:PORT]",
		"Run weir: the embedded NATS JetStream bus, the API and webhook ingress, on one port.", stderr)
	cfgPath := fs.String("config", "", "configuration file (default ./weir.yaml when present)")
	data := fs.String("data", "", "data directory (overrides data_dir; default ./weir-data)")
	addr := fs.String("addr", "", "HTTP listen address (overrides server.addr; default 127.0.0.1:8080)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *data != "" {
		cfg.DataDir = *data
	}
	if *addr != "" {
		cfg.Server.Addr = *addr
	}
	if err := server.Check(cfg); err != nil {
		if path := configFile(*cfgPath); path != "" {
			return fmt.Errorf("%s: %w", path, err)
		}
		return err
	}
	log := newLogger(cfg.Log, stderr)

	// SIGTERM and the first SIGINT drain; a second SIGINT exits at once.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt)
		<-again
		log.Error("second interrupt: exiting without draining")
		os.Exit(130)
	}()
	return server.New(cfg, log, stdout).Run(ctx)
}

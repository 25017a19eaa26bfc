package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
)

// Environment variables that give `weir tail` the bus credentials; they keep
// the password out of the process list, where --password shows it.
const (
	envBusUser     = "WEIR_BUS_USER"
	envBusPassword = "WEIR_BUS_PASSWORD"
)

// tail prints events straight from the bus, with an ordered consumer: no state
// is left behind on the server when it exits.
func tail(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tail", "tail [--config FILE] [--bus URL] [--all] [-n N] [PATTERN]",
		"Print events whose type matches PATTERN (default: every type) as they arrive on the bus.", stderr)
	cfgPath := fs.String("config", "", "configuration file (default ./weir.yaml when present)")
	data := fs.String("data", "", "data directory holding bus-credentials.json (overrides data_dir)")
	busURL := fs.String("bus", "", "NATS URL (default: bus.url, or nats://<bus.listen> of the configuration)")
	user := fs.String("user", "", "bus user (default: $"+envBusUser+", bus.user, or <data_dir>/"+bus.CredentialsFile+")")
	password := fs.String("password", "", "bus password (default: $"+envBusPassword+", bus.password, or the credentials file)")
	all := fs.Bool("all", false, "start with the oldest stored event instead of new ones")
	count := fs.Int("n", 0, "exit after this many events (0: run until interrupted)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	pattern := ">"
	if fs.NArg() > 1 {
		return errors.New("usage: weir tail [PATTERN]")
	}
	if fs.NArg() == 1 {
		pattern = fs.Arg(0)
	}
	if err := config.ValidPattern(pattern); err != nil {
		return fmt.Errorf("pattern: %w", err)
	}
	if *user == "" {
		*user = os.Getenv(envBusUser)
	}
	if *password == "" {
		*password = os.Getenv(envBusPassword)
	}
	url := *busURL
	opts := []nats.Option{nats.Name("weir tail"), nats.Timeout(5 * time.Second)}
	if url == "" || *user == "" {
		// The configuration says where the bus is and how to authenticate.
		cfg, err := loadClientConfig(*cfgPath, "bus", "data_dir")
		if err != nil {
			return err
		}
		if *data != "" {
			cfg.DataDir = *data
		}
		if url == "" {
			switch {
			case cfg.Bus.URL != "":
				url = cfg.Bus.URL
			case cfg.Bus.Listen != "":
				url = "nats://" + cfg.Bus.Listen
			default:
				return errors.New("the embedded bus is not exposed: set bus.listen (e.g. 127.0.0.1:7422) in weir.yaml and restart weir serve, or give --bus")
			}
		}
		switch {
		case *user != "":
		case cfg.Bus.User != "":
			*user, *password = cfg.Bus.User, cfg.Bus.Password
		case cfg.Bus.URL != "" && cfg.Bus.CredsFile != "":
			opts = append(opts, nats.UserCredentials(cfg.Bus.CredsFile))
		case cfg.Bus.URL == "":
			path := filepath.Join(cfg.DataDir, bus.CredentialsFile)
			creds, err := bus.ReadCredentials(path)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			*user, *password = creds.User, creds.Password
		}
	}
	if *user != "" {
		opts = append(opts, nats.UserInfo(*user, *password))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	nc, err := nats.Connect(url, opts...)
	if errors.Is(err, nats.ErrAuthorization) {
		return fmt.Errorf("connect to %s: %w (give the bus credentials: --data DIR of weir serve, --user/--password, or $%s/$%s)", url, err, envBusUser, envBusPassword)
	}
	if err != nil {
		return fmt.Errorf("connect to %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	policy := jetstream.DeliverNewPolicy
	if *all {
		policy = jetstream.DeliverAllPolicy
	}
	cons, err := js.OrderedConsumer(ctx, bus.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.EventsPrefix + pattern},
		DeliverPolicy:  policy,
	})
	if err != nil {
		return fmt.Errorf("read stream %s: %w", bus.EventsStream, err)
	}
	fmt.Fprintf(stderr, "weir tail: events of type %s from %s (Ctrl-C to stop)\n", pattern, url)
	seen := 0
	done := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if *count > 0 && seen >= *count {
			return
		}
		fmt.Fprintf(stdout, "%s\n", m.Data())
		seen++
		if *count > 0 && seen == *count {
			close(done)
		}
	})
	if err != nil {
		return err
	}
	defer cc.Stop()
	select {
	case <-ctx.Done():
	case <-done:
	}
	return nil
}

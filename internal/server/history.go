package server

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/weir-dev/weir/internal/archive"
	"github.com/weir-dev/weir/internal/retention"
)

// startRetentionAndArchive puts weir.yaml's retention in force and starts the
// archive, whose files let replays reach beyond retention.
func (s *Server) startRetentionAndArchive(ctx context.Context) error {
	cfg := s.cfg
	s.keeper = retention.New(s.bus.JetStream(), cfg.Retention.SweepEvery, s.log)
	policy := retention.Policy{MaxAge: cfg.Retention.MaxAge, MaxBytes: cfg.Retention.MaxBytes}
	for _, r := range cfg.Retention.Rules {
		policy.Rules = append(policy.Rules, retention.Rule{Pattern: r.Pattern, MaxAge: r.MaxAge})
	}
	if err := s.keeper.Apply(ctx, policy); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	s.keeper.Start()
	if cfg.Archive.Disabled {
		return nil
	}
	acfg := archive.Config{Dir: cfg.Archive.Dir}
	if acfg.Dir == "" {
		acfg.Dir = filepath.Join(cfg.DataDir, "archive")
	}
	if s3 := cfg.Archive.S3; s3 != nil {
		acfg.S3 = &archive.S3Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Prefix: s3.Prefix, Region: s3.Region,
			AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, UseSSL: !s3.Insecure}
	}
	var err error
	if s.archiver, err = archive.New(s.bus.JetStream(), acfg, s.log); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	// The archive lives until Stop, not for the start request.
	if err := s.archiver.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	s.deliv.SetArchive(func(ctx context.Context, from, to time.Time, patterns []string, fn func(typ, id string, event []byte) error) error {
		return archive.Read(ctx, acfg, from, to, patterns, func(r archive.Record) error { return fn(r.Type, r.ID, r.Event) })
	})
	return nil
}

func (s *Server) stopBackground() {
	if s.archiver != nil {
		s.archiver.Stop()
	}
	if s.keeper != nil {
		s.keeper.Stop()
	}
}

// archiveStatus is the archive's progress for the API, or nil without an archive.
func (s *Server) archiveStatus() func() any {
	if s.archiver == nil {
		return nil
	}
	return func() any { return s.archiver.Status() }
}

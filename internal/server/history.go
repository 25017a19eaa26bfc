package server

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/weir-dev/weir/internal/archive"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/retention"
)

// archiveConfig is the archive's configuration, and whether there is an archive.
func (s *Server) archiveConfig() (archive.Config, bool) {
	cfg := s.cfg
	if cfg.Archive.Disabled {
		return archive.Config{}, false
	}
	acfg := archive.Config{Dir: cfg.Archive.Dir}
	if acfg.Dir == "" {
		acfg.Dir = filepath.Join(cfg.DataDir, "archive")
	}
	if s3 := cfg.Archive.S3; s3 != nil {
		acfg.S3 = &archive.S3Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Prefix: s3.Prefix, Region: s3.Region,
			AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, UseSSL: !s3.Insecure}
	}
	return acfg, true
}

// archiveReader lets replays read the archive's files. It needs the archive's
// configuration only, not the archiver, so delivery can be built first.
func archiveReader(acfg archive.Config) delivery.ArchiveReader {
	return func(ctx context.Context, from, to time.Time, patterns []string, fn func(typ, id string, event []byte) error) error {
		return archive.Read(ctx, acfg, from, to, patterns, func(r archive.Record) error { return fn(r.Type, r.ID, r.Event) })
	}
}

// startRetentionAndArchive puts weir.yaml's retention in force and starts the
// archive, whose files let replays reach beyond retention.
func (s *Server) startRetentionAndArchive(ctx context.Context, acfg archive.Config, archived bool) error {
	cfg := s.cfg
	s.keeper = retention.New(s.bus.JetStream(), cfg.Retention.SweepEvery, s.log)
	policy := retention.Policy{MaxAge: cfg.Retention.MaxAge, MaxBytes: cfg.Retention.MaxBytes}
	for _, r := range cfg.Retention.Rules {
		policy.Rules = append(policy.Rules, retention.Rule{Pattern: r.Pattern, MaxAge: r.MaxAge})
	}
	if err := s.keeper.Apply(ctx, policy); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	if err := s.keeper.Start(ctx); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	if !archived {
		return nil
	}
	var err error
	if s.archiver, err = archive.New(s.bus.JetStream(), acfg, s.log); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if err := s.archiver.Start(ctx); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// archiveStatus is the archive's progress for the API, or nil without an archive.
func (s *Server) archiveStatus() func() any {
	if s.archiver == nil {
		return nil
	}
	return func() any { return s.archiver.Status() }
}

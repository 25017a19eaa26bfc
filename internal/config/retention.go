package config

import (
	"fmt"
	"time"
)

// Retention is how long the bus keeps events, by type. Changing it through the
// API (PUT /v1/retention) takes effect at once; at the next start weir.yaml
// applies again.
type Retention struct {
	// MaxAge keeps events no rule matches. Default bus.max_age (168h).
	MaxAge time.Duration `yaml:"max_age"`
	// MaxBytes bounds the whole EVENTS stream; the oldest events go first. 0: no bound.
	MaxBytes int64 `yaml:"max_bytes"`
	// Rules keep the types of a pattern for their own age; the first match decides.
	Rules []RetentionRule `yaml:"rules"`
	// SweepEvery is how often shorter rules are applied. Default 1m.
	SweepEvery time.Duration `yaml:"sweep_every"`
}

// RetentionRule keeps events of types matching Pattern for MaxAge.
type RetentionRule struct {
	// Pattern over types: "audit.>", "debug.*".
	Pattern string `yaml:"pattern"`
	// MaxAge of those events, e.g. 2160h (90 days).
	MaxAge time.Duration `yaml:"max_age"`
}

// Archive writes every event to compressed NDJSON segments, locally and
// optionally to S3-compatible storage, for replays older than retention.
type Archive struct {
	// Disabled turns the archive off. It is on by default.
	Disabled bool `yaml:"disabled"`
	// Dir is where segments go. Default <data_dir>/archive.
	Dir string `yaml:"dir"`
	// S3 also uploads each closed hourly segment.
	S3 *ArchiveS3 `yaml:"s3"`
}

// ArchiveS3 is an S3-compatible bucket.
type ArchiveS3 struct {
	Endpoint  string `yaml:"endpoint"`   // host:port, e.g. s3.eu-west-1.amazonaws.com
	Bucket    string `yaml:"bucket"`     // required
	Prefix    string `yaml:"prefix"`     // key prefix
	Region    string `yaml:"region"`     // optional
	AccessKey string `yaml:"access_key"` // ${AWS_ACCESS_KEY_ID}
	SecretKey string `yaml:"secret_key"` // ${AWS_SECRET_ACCESS_KEY}
	Insecure  bool   `yaml:"insecure"`   // plain HTTP (local test servers only)
}

func (r *Retention) withDefaults(busMaxAge time.Duration) {
	if r.MaxAge == 0 {
		r.MaxAge = busMaxAge
	}
	if r.SweepEvery == 0 {
		r.SweepEvery = time.Minute
	}
}

func (r *Retention) validate() error {
	if r.MaxAge < 0 || r.MaxBytes < 0 || r.SweepEvery < 0 {
		return fmt.Errorf("retention: values must not be negative")
	}
	for i, rule := range r.Rules {
		if err := ValidPattern(rule.Pattern); err != nil {
			return fmt.Errorf("retention.rules[%d].pattern: %w", i, err)
		}
		if rule.MaxAge <= 0 {
			return fmt.Errorf("retention.rules[%d].max_age: required, e.g. 720h", i)
		}
	}
	return nil
}

func (a *Archive) validate() error {
	if a.S3 != nil && (a.S3.Endpoint == "" || a.S3.Bucket == "") {
		return fmt.Errorf("archive.s3: endpoint and bucket are required")
	}
	return nil
}

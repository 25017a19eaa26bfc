package archive

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config is an S3-compatible bucket that closed segments are uploaded to.
type S3Config struct {
	// Endpoint is host[:port] of the service, without a scheme, e.g.
	// s3.eu-west-1.amazonaws.com or 127.0.0.1:9000.
	Endpoint string
	// Bucket receives the segments; it must exist.
	Bucket string
	// Prefix starts every key: <Prefix>/<type>/YYYY/MM/DD/HH.ndjson.gz. Empty
	// puts the type first.
	Prefix string
	// AccessKey and SecretKey sign the requests; both empty sends them unsigned.
	AccessKey string
	// SecretKey goes with AccessKey.
	SecretKey string
	// Region of the bucket; empty lets the client find it out.
	Region string
	// UseSSL talks HTTPS to Endpoint.
	UseSSL bool
}

// Config are the archive's settings.
type Config struct {
	// Dir is the local root of the archive; required. weir passes
	// <data_dir>/archive.
	Dir string
	// S3, when set, also receives every closed segment.
	S3 *S3Config
	// FlushEvery is how often buffered events are written and made durable
	// (and acknowledged on the bus). Default 1s.
	FlushEvery time.Duration
	// CloseAfter is how long after an hour ends its segments are closed and
	// uploaded; events the bus stores late (a slow publisher, a clock step)
	// still land in their hour's segment within it. Default 10m.
	CloseAfter time.Duration
}

// WithDefaults returns cfg with every unset field at its default.
func (cfg Config) WithDefaults() Config {
	if cfg.FlushEvery == 0 {
		cfg.FlushEvery = time.Second
	}
	if cfg.CloseAfter == 0 {
		cfg.CloseAfter = 10 * time.Minute
	}
	return cfg
}

func (cfg Config) validate() error {
	if cfg.Dir == "" {
		return errors.New("archive.dir: required")
	}
	if cfg.FlushEvery < 0 {
		return fmt.Errorf("archive.flush_every: %s is negative", cfg.FlushEvery)
	}
	if cfg.CloseAfter < 0 {
		return fmt.Errorf("archive.close_after: %s is negative", cfg.CloseAfter)
	}
	if s := cfg.S3; s != nil {
		if s.Endpoint == "" {
			return errors.New("archive.s3.endpoint: required")
		}
		if strings.Contains(s.Endpoint, "://") {
			return fmt.Errorf("archive.s3.endpoint: %q: give host[:port] without a scheme (UseSSL selects HTTPS)", s.Endpoint)
		}
		if s.Bucket == "" {
			return errors.New("archive.s3.bucket: required")
		}
	}
	return nil
}

// client connects to the bucket; it makes no request yet.
func (s *S3Config) client() (*minio.Client, error) {
	c, err := minio.New(s.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure: s.UseSSL,
		Region: s.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("archive.s3: %w", err)
	}
	return c, nil
}

// key is the object key of the segment at rel (a path relative to Dir).
func (s *S3Config) key(rel string) string {
	if p := strings.Trim(s.Prefix, "/"); p != "" {
		return p + "/" + rel
	}
	return rel
}

// keyPrefix is what every key of the archive starts with.
func (s *S3Config) keyPrefix() string {
	if p := strings.Trim(s.Prefix, "/"); p != "" {
		return p + "/"
	}
	return ""
}

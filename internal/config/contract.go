package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Policy holds rules that apply to every event.
type Policy struct {
	// RequireContract refuses (422) events whose type has no contract. Default false.
	RequireContract bool `yaml:"require_contract"`
	// OnInvalid is what happens to an event that breaks its contract: quarantine
	// (default: answered 202 "quarantined" and kept as a dead letter with every
	// error) or reject (answered 422 with every error, nothing kept). Sources
	// may override it; POST /v1/events follows this one.
	OnInvalid string `yaml:"on_invalid"`
}

// Contract declares an event type's contract in weir.yaml. weir registers the
// schema file as the type's next version at start when it changed, checking it
// against the earlier versions; an incompatible change stops the start with the
// explanation. The API may not change a contract declared here.
type Contract struct {
	// Schema is the path of the JSON Schema file (relative to weir.yaml).
	Schema string `yaml:"schema"`
	// Example is the path of an example payload (optional).
	Example string `yaml:"example"`
	// Owner is who to ask about the type.
	Owner string `yaml:"owner"`
	// Description says what the event means.
	Description string `yaml:"description"`
	// Compatibility is BACKWARD (default), BACKWARD_TRANSITIVE, FORWARD,
	// FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE or NONE.
	Compatibility string `yaml:"compatibility"`
	// Lenient allows optional properties to be added to open objects.
	Lenient bool `yaml:"lenient"`
	// Deprecated marks the type as on its way out.
	Deprecated *Deprecated `yaml:"deprecated"`
}

// Deprecated is a contract's deprecation in weir.yaml.
type Deprecated struct {
	// Sunset is the date (RFC 3339, or YYYY-MM-DD) after which Policy applies.
	Sunset string `yaml:"sunset"`
	// Policy after the sunset: warn (default) or reject.
	Policy string `yaml:"policy"`
	// Note tells producers what to use instead.
	Note string `yaml:"note"`
}

// SunsetTime parses Sunset.
func (d *Deprecated) SunsetTime() (time.Time, error) {
	if d.Sunset == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, d.Sunset); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, d.Sunset)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (2027-06-30 or 2027-06-30T00:00:00Z)", d.Sunset)
	}
	return t, nil
}

// Modes are the compatibility modes a contract can name.
var Modes = []string{"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"}

// ReadFile reads a file named in weir.yaml, relative to the file's folder.
func (c *Config) ReadFile(name string) ([]byte, error) {
	if !filepath.IsAbs(name) && c.BaseDir != "" {
		name = filepath.Join(c.BaseDir, name)
	}
	return os.ReadFile(name)
}

func (c *Contract) validate(typ string, cfg *Config) error {
	p := "contracts." + typ
	if err := ValidType(typ); err != nil {
		return fmt.Errorf("%s: the type %w", p, err)
	}
	if c.Schema == "" {
		return fmt.Errorf("%s.schema: required: the path of a JSON Schema file", p)
	}
	if _, err := cfg.ReadFile(c.Schema); err != nil {
		return fmt.Errorf("%s.schema: %w", p, err)
	}
	if c.Example != "" {
		if _, err := cfg.ReadFile(c.Example); err != nil {
			return fmt.Errorf("%s.example: %w", p, err)
		}
	}
	if c.Compatibility != "" && !slices.Contains(Modes, strings.ToUpper(c.Compatibility)) {
		return fmt.Errorf("%s.compatibility: %q is not one of %s", p, c.Compatibility, strings.Join(Modes, ", "))
	}
	if d := c.Deprecated; d != nil {
		if _, err := d.SunsetTime(); err != nil {
			return fmt.Errorf("%s.deprecated.sunset: %w", p, err)
		}
		if d.Policy != "" && d.Policy != "warn" && d.Policy != "reject" {
			return fmt.Errorf("%s.deprecated.policy: %q is not warn or reject", p, d.Policy)
		}
	}
	return nil
}

func validOnInvalid(v string) bool { return v == "quarantine" || v == "reject" }

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/weir-dev/weir/internal/field"
)

// Load reads the file at path, expands ${NAME} references from the environment,
// applies defaults and validates the result. Errors name the field path, e.g.
// `weir.yaml: sources.shop.verify.scheme: unknown scheme "hmac256"`.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := parse(raw, os.LookupEnv, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse is Load on bytes, with lookup standing in for the environment.
// Paths in it are relative to the working directory.
func Parse(raw []byte, lookup func(string) (string, bool)) (*Config, error) {
	return parse(raw, lookup, "")
}

// LoadLazy reads the file at path for a command that uses only part of it
// (weir send, deadletters, replay, tail): a ${NAME} whose variable is not set
// leaves its field empty instead of failing, and the file is not validated as
// a whole, which is weir serve's job. The command then calls NeedEnv with the
// fields it reads, so that it fails only for the variables it needs.
func LoadLazy(path string, lookup func(string) (string, bool)) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := parseLazy(raw, lookup, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// UnsetEnvError is a field whose ${NAME} variable is not set. It reaches
// callers as the cause of a *field.Error for that field.
type UnsetEnvError struct {
	// Field is the field path, e.g. sources.shop.verify.secrets[0].
	Field string
	// Name is the environment variable.
	Name string
}

func (e *UnsetEnvError) Error() string {
	return fmt.Sprintf("%s: environment variable %s is not set", e.Field, e.Name)
}

// asField is e as the *field.Error that callers receive, with e as its cause.
func (e UnsetEnvError) asField() *field.Error {
	return &field.Error{Path: e.Field, Reason: "environment variable " + e.Name + " is not set", Err: &e}
}

// NeedEnv reports the first field at or under one of fields (e.g.
// "sources.shop", "server.addr") whose ${NAME} variable LoadLazy found unset:
// a *field.Error wrapping an *UnsetEnvError.
func (c *Config) NeedEnv(fields ...string) error {
	for _, u := range c.unset {
		for _, f := range fields {
			if u.Field == f || strings.HasPrefix(u.Field, f+".") || strings.HasPrefix(u.Field, f+"[") {
				return u.asField()
			}
		}
	}
	return nil
}

func parse(raw []byte, lookup func(string) (string, bool), baseDir string) (*Config, error) {
	cfg, err := decode(raw, lookup, baseDir, nil)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func parseLazy(raw []byte, lookup func(string) (string, bool), baseDir string) (*Config, error) {
	var unset []UnsetEnvError
	cfg, err := decode(raw, lookup, baseDir, &unset)
	if err != nil {
		return nil, err
	}
	cfg.unset = unset
	return cfg, nil
}

// decode expands, decodes and fills in defaults. With unset nil a missing
// variable is an error; otherwise it is recorded there and its value left
// empty (null, so that a number or a duration field takes its zero value).
func decode(raw []byte, lookup func(string) (string, bool), baseDir string, unset *[]UnsetEnvError) (*Config, error) {
	// ${NAME} is not YAML-safe everywhere (inside [ ] it opens a mapping), so each
	// reference is first swapped for a plain marker, then expanded in values only.
	raw = envRef.ReplaceAllFunc(raw, func(m []byte) []byte {
		if string(m) == "$$" {
			return m
		}
		return []byte(markerOpen + string(m[2:len(m)-1]) + markerClose)
	})
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if err := expandNode(&doc, "", lookup, unset); err != nil {
		return nil, err
	}
	// A misspelt field is an error instead of a silently ignored setting:
	// checked here with the file's own lines, then by the strict decoder.
	if err := checkShape(&doc, reflect.TypeFor[Config](), ""); err != nil {
		return nil, err
	}
	// Re-encode the expanded tree and decode it strictly.
	expanded, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	cfg := Config{BaseDir: baseDir}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(expanded))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	cfg.WithDefaults()
	return &cfg, nil
}

var envRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// The marker that stands for ${NAME} while the YAML is parsed: plain-scalar
// safe, and '-' cannot occur in a variable name.
const (
	markerOpen  = "WEIRENV-"
	markerClose = "-WEIRENV"
)

var markerRef = regexp.MustCompile(`\$\$|WEIRENV-([A-Za-z_][A-Za-z0-9_]*)-WEIRENV`)

// expandNode replaces ${NAME} in every scalar value ($$ is a literal $). A missing
// variable is an error that names the field, because an empty secret would
// silently disable a check; with unset given, it is recorded there instead.
func expandNode(n *yaml.Node, path string, lookup func(string) (string, bool), unset *[]UnsetEnvError) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := expandNode(c, path, lookup, unset); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if err := expandNode(n.Content[i+1], join(path, key), lookup, unset); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := expandNode(c, fmt.Sprintf("%s[%d]", path, i), lookup, unset); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") && !strings.Contains(n.Value, markerOpen) {
			return nil
		}
		var missing string
		out := markerRef.ReplaceAllStringFunc(n.Value, func(m string) string {
			if m == "$$" {
				return "$"
			}
			name := m[len(markerOpen) : len(m)-len(markerClose)]
			v, ok := lookup(name)
			if !ok && missing == "" {
				missing = name
			}
			return v
		})
		if missing != "" && unset == nil {
			return (&UnsetEnvError{Field: path, Name: missing}).asField()
		}
		if missing != "" {
			*unset = append(*unset, UnsetEnvError{Field: path, Name: missing})
			n.Tag, n.Value, n.Style = "!!null", "null", 0
			return nil
		}
		if out != n.Value {
			n.Value = out
			// An expanded value is always a string: a secret of digits must not
			// turn into a number.
			n.Tag = "!!str"
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/weir-dev/weir/internal/field"
)

// checkShape walks the YAML tree against the configuration's types before it
// is decoded, so that a misspelt field or a duration that does not parse is a
// *field.Error naming the field and its line in the file, in the file's own
// words, rather than the decoder's sentence about Go types. What it does not
// look at (a number where a string belongs, say) the strict decoder still
// refuses.
func checkShape(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := checkShape(c, t, path); err != nil {
				return err
			}
		}
		return nil
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil
		}
		return checkShape(n.Alias, t, path)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	switch {
	case t == reflect.TypeFor[time.Duration]():
		if n.Kind == yaml.ScalarNode && n.Tag != "!!int" {
			if _, err := time.ParseDuration(n.Value); err != nil {
				return field.Errorf(path, "line %d: %q is not a duration (e.g. 30s, 5m, 24h)", n.Line, n.Value)
			}
		}
		return nil
	case t == reflect.TypeFor[Duration]():
		// Checked here rather than left to UnmarshalText, whose error the
		// decoder reports without the field's path; a bare number is refused
		// as UnmarshalText refuses it, since its unit would be a guess.
		if n.Kind == yaml.ScalarNode {
			if _, err := time.ParseDuration(n.Value); err != nil {
				return field.Errorf(path, "line %d: %q is not a duration (e.g. 30s, 5m, 6h)", n.Line, n.Value)
			}
		}
		return nil
	case reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()),
		reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()):
		return nil // its own decoder says what is wrong
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				return field.Errorf(join(path, k.Value), "line %d: unknown field %q (in %s settings)", k.Line, k.Value, t.Name())
			}
			if err := checkShape(n.Content[i+1], ft, join(path, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkShape(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			if err := checkShape(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlFields maps the names a struct takes in YAML to their types, as
// yaml.v3 names them: the tag's name, else the field's name in lower case;
// "-" is skipped and ",inline" structs are merged in.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			for k, v := range yamlFields(f.Type) {
				fields[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields
}

package view

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/delivery/filter"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/field"
)

// MaxKeyLen bounds a latest view's key, in bytes: an event whose key is
// longer is skipped (ErrNoKey), since keys come from whoever publishes.
const MaxKeyLen = 256

// ErrNoKey means an event selected by a latest view gives it no usable key
// (the pointer is absent or not a string or number, the CEL key fails, or the
// key is empty or longer than MaxKeyLen). The event is skipped and counted.
var ErrNoKey = errors.New("the event gives the view no key")

// ErrUnjudged means the view's filter, delete_when or CEL key could not
// judge the event (over the bounds of one evaluation, or data that does not
// decode). The event is skipped and counted.
var ErrUnjudged = errors.New("the view cannot judge the event")

// Spec is a compiled view: its settings with the CEL expressions ready.
type Spec struct {
	// Name is the view's name (views.<name>).
	Name string
	// Config is the view as declared, with defaults.
	Config config.View

	filter     *filter.Filter
	deleteWhen *filter.Filter
	keyCEL     *filter.Value
}

// Compile checks and compiles view name. The error is a *field.Error naming
// views.<name>.<field>.
func Compile(name string, v *config.View) (*Spec, error) {
	path := "views." + name
	if v == nil {
		return nil, field.Errorf(path, "is empty: give kind and types")
	}
	c := *v
	c.WithDefaults()
	if err := c.Validate(path); err != nil {
		return nil, err
	}
	s := &Spec{Name: name, Config: c}
	var err error
	if s.filter, err = filter.Compile(c.Filter); err != nil {
		return nil, prefixed(path, "filter", err)
	}
	if s.deleteWhen, err = filter.Compile(c.DeleteWhen); err != nil {
		return nil, prefixed(path, "delete_when", err)
	}
	if c.Kind == config.ViewLatest && !strings.HasPrefix(c.Key, "/") {
		if s.keyCEL, err = filter.CompileValue(c.Key); err != nil {
			return nil, prefixed(path, "key", err)
		}
	}
	return s, nil
}

// CheckConfig compiles every view, so that serve refuses a bad one before
// it creates anything.
func CheckConfig(views map[string]*config.View) error {
	for _, name := range slices.Sorted(maps.Keys(views)) {
		if _, err := Compile(name, views[name]); err != nil {
			return err
		}
	}
	return nil
}

func prefixed(path, name string, err error) error {
	var fe *field.Error
	if errors.As(err, &fe) {
		return &field.Error{Path: field.Join(path, name), Reason: fe.Reason, Err: fe.Err}
	}
	return field.Wrap(field.Join(path, name), err)
}

// Subjects are the bus subjects of the view's types.
func (s *Spec) Subjects() []string {
	out := make([]string, 0, len(s.Config.Types))
	for _, t := range event.ReducePatterns(s.Config.Types) {
		out = append(out, bus.EventsPrefix+t)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Change is what one event contributes to a view.
type Change struct {
	// Time is the event's time, or when the bus stored it if it has none:
	// the tie-break of a latest view, and what a count view buckets by.
	Time time.Time

	// Key (latest) is the view key.
	Key string
	// Delete (latest) is true when delete_when holds: the key is removed.
	Delete bool
	// Fields (latest, with fields declared) are the values kept, by name;
	// an absent pointer is JSON null.
	Fields map[string]json.RawMessage
	// Data (latest, without fields) is the whole payload.
	Data json.RawMessage

	// Bucket (count) is the start of the time bucket, in UTC.
	Bucket time.Time
	// By (count) are the by-values, by config.ByName; an absent one is "".
	By map[string]string
	// Sum (count) is the number at the sum pointer, 0 when absent or not a number.
	Sum float64
}

// Extract says what ev, stored on the bus at stored, contributes to the
// view. ok is false when the view does not take the event (another type, or
// its filter says no). An error (ErrNoKey, ErrUnjudged) means the event is
// skipped. It reads nothing but its arguments.
func (s *Spec) Extract(ev *event.Event, stored time.Time) (c Change, ok bool, err error) {
	if !event.MatchAnyType(s.Config.Types, ev.Type) {
		return c, false, nil
	}
	if match, err := s.filter.Match(ev); err != nil || !match {
		if err != nil && (errors.Is(err, filter.ErrLimit) || errors.Is(err, filter.ErrData)) {
			return c, false, fmt.Errorf("%w: filter: %w", ErrUnjudged, err)
		}
		return c, false, nil
	}
	c.Time = ev.Time.UTC()
	if ev.Time.IsZero() {
		c.Time = stored.UTC()
	}
	data, err := decode(ev.Data)
	if err != nil {
		return c, false, fmt.Errorf("%w: %w", ErrUnjudged, err)
	}
	if s.Config.Kind == config.ViewCount {
		every := int64(s.Config.Every.D() / time.Second)
		u := c.Time.Unix()
		u -= ((u % every) + every) % every
		c.Bucket = time.Unix(u, 0).UTC()
		c.By = make(map[string]string, len(s.Config.By))
		for _, b := range s.Config.By {
			switch b {
			case "type":
				c.By["type"] = ev.Type
			case "source":
				c.By["source"] = ev.Source
			default:
				v, _ := scalar(pointer(data, b))
				c.By[config.ByName(b)] = v
			}
		}
		if s.Config.Sum != "" {
			if n, ok := pointer(data, s.Config.Sum).(json.Number); ok {
				c.Sum, _ = n.Float64()
			}
		}
		return c, true, nil
	}
	if c.Key, err = s.key(ev, data); err != nil {
		return c, false, err
	}
	if del, err := s.deleteWhen.Match(ev); err != nil && (errors.Is(err, filter.ErrLimit) || errors.Is(err, filter.ErrData)) {
		return c, false, fmt.Errorf("%w: delete_when: %w", ErrUnjudged, err)
	} else if s.deleteWhen != nil && del {
		c.Delete = true
		return c, true, nil
	}
	if len(s.Config.Fields) == 0 {
		c.Data = ev.Data
		if len(c.Data) == 0 {
			c.Data = json.RawMessage("null")
		}
		return c, true, nil
	}
	c.Fields = make(map[string]json.RawMessage, len(s.Config.Fields))
	for name, p := range s.Config.Fields {
		raw, err := json.Marshal(pointer(data, p))
		if err != nil {
			raw = json.RawMessage("null")
		}
		c.Fields[name] = raw
	}
	return c, true, nil
}

// key is a latest view's key for ev.
func (s *Spec) key(ev *event.Event, data any) (string, error) {
	var k string
	if s.keyCEL != nil {
		var err error
		if k, err = s.keyCEL.Eval(ev); err != nil {
			if errors.Is(err, filter.ErrLimit) || errors.Is(err, filter.ErrData) {
				return "", fmt.Errorf("%w: key: %w", ErrUnjudged, err)
			}
			return "", fmt.Errorf("%w: %w", ErrNoKey, err)
		}
	} else {
		var ok bool
		if k, ok = scalar(pointer(data, s.Config.Key)); !ok {
			return "", fmt.Errorf("%w: %s is absent or not a string or a number", ErrNoKey, s.Config.Key)
		}
	}
	if k == "" || len(k) > MaxKeyLen {
		return "", fmt.Errorf("%w: the key is empty or longer than %d bytes", ErrNoKey, MaxKeyLen)
	}
	return k, nil
}

// decode reads a JSON payload keeping numbers as written; no payload, or
// one that is not JSON, is nil.
func decode(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("the data is not JSON: %w", err)
	}
	return v, nil
}

// pointer resolves an RFC 6901 pointer in v; nil when absent.
func pointer(v any, p string) any {
	if p == "" {
		return v
	}
	for _, tok := range strings.Split(p[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return nil
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) || (len(tok) > 1 && tok[0] == '0') {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// scalar is a string, number or bool as text; false for anything else.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

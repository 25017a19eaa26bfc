package contract

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/weir-dev/weir/internal/bus"

	"github.com/weir-dev/weir/internal/contract/compat"
	"github.com/weir-dev/weir/internal/lifecycle"
)

// Bucket holds one key per contract ("c.<type>") with all its versions.
const Bucket = "weir-contracts"

// Errors callers decide on.
var (
	// ErrNotFound means the type has no contract, or not that version.
	ErrNotFound = errors.New("no such contract or version")
	// ErrIncompatible means the schema breaks the contract's compatibility mode;
	// the Result says why.
	ErrIncompatible = errors.New("the schema is not compatible with the earlier versions")
	// ErrInvalidSchema means the document is not a usable JSON Schema.
	ErrInvalidSchema = errors.New("not a valid JSON Schema")
	// ErrDeclaredInConfig means weir.yaml owns the contract; the API may not change it.
	ErrDeclaredInConfig = errors.New("the contract is declared in weir.yaml; change it there")
)

// Deprecation marks a type or a version as on its way out.
type Deprecation struct {
	// Since is when it was deprecated.
	Since time.Time `json:"since"`
	// Sunset is when the Policy starts to apply; zero means no date yet.
	Sunset time.Time `json:"sunset,omitzero"`
	// Policy after the sunset: warn (events flow, with headers) or reject.
	Policy string `json:"policy"`
	// Note tells producers what to use instead.
	Note string `json:"note,omitempty"`
}

// Version is one immutable schema of a contract.
type Version struct {
	// Version numbers start at 1.
	Version int `json:"version"`
	// Schema is the JSON Schema of the event's data.
	Schema json.RawMessage `json:"schema"`
	// Example is an example payload, if given.
	Example json.RawMessage `json:"example,omitempty"`
	// Fingerprint identifies the schema's content (SHA-256 of its canonical JSON).
	Fingerprint string `json:"fingerprint"`
	// CreatedAt is when it was registered.
	CreatedAt time.Time `json:"created_at"`
	// Deprecated marks this version alone.
	Deprecated *Deprecation `json:"deprecated,omitempty"`
}

// Contract is an event type's published description.
type Contract struct {
	// Type is the event type, e.g. order.created.
	Type string `json:"type"`
	// Owner is who to ask about it.
	Owner string `json:"owner,omitempty"`
	// Description says what the event means.
	Description string `json:"description,omitempty"`
	// Compatibility is the mode new versions are checked with.
	Compatibility Mode `json:"compatibility"`
	// Lenient allows optional properties added to open objects (see Check).
	Lenient bool `json:"lenient,omitempty"`
	// Origin is config (weir.yaml) or api.
	Origin string `json:"origin"`
	// Deprecated marks the whole type.
	Deprecated *Deprecation `json:"deprecated,omitempty"`
	// Versions, oldest first.
	Versions []Version `json:"versions"`
}

// Latest is the newest version, or nil.
func (c *Contract) Latest() *Version {
	if len(c.Versions) == 0 {
		return nil
	}
	return &c.Versions[len(c.Versions)-1]
}

// Meta are the contract fields set alongside a registration.
type Meta struct {
	Owner, Description string
	Compatibility      Mode
	// Lenient, when set, switches lenient checking on or off.
	Lenient *bool
	Origin  string
}

// Registry keeps contracts in a JetStream key-value bucket and compiled
// validators in memory; every node follows changes made on any node.
type Registry struct {
	js       jetstream.JetStream
	replicas int
	kv       jetstream.KeyValue // set by Start
	baseURL  string

	mu        sync.RWMutex
	contracts map[string]*Contract
	compiled  map[string]*jsonschema.Schema // "<type>#<version>"

	life lifecycle.Once
}

// ErrStarted means Start was called on a registry that was already started
// or stopped.
var ErrStarted = errors.New("contract: the registry was already started")

// New prepares a registry over js; Start opens it. baseURL prefixes
// dataschema URIs (http://host:port). Its other methods are for after Start.
func New(js jetstream.JetStream, replicas int, baseURL string) *Registry {
	return &Registry{js: js, replicas: replicas, baseURL: baseURL,
		contracts: map[string]*Contract{}, compiled: map[string]*jsonschema.Schema{}}
}

// Open is New then Start.
func Open(ctx context.Context, js jetstream.JetStream, replicas int, baseURL string) (*Registry, error) {
	r := New(js, replicas, baseURL)
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Start creates the bucket, loads every contract, and follows changes made on
// any node in the background until Stop. ctx bounds the start-up only: the
// follower runs under a context the registry owns (keeping ctx's values) and
// cancels in Stop. A registry starts once: a second Start, or a Start after
// Stop, returns ErrStarted.
func (r *Registry) Start(ctx context.Context) error {
	return r.life.Start(ctx, ErrStarted, func(bg context.Context) (func(), error) {
		kv, err := r.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      Bucket,
			Description: "weir: event contracts and their versioned schemas",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    r.replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", Bucket, err)
		}
		r.kv = kv
		w, err := kv.WatchAll(bg)
		if err != nil {
			return nil, err
		}
		return bus.FollowKV(ctx, bg, w, r.apply)
	})
}

// Stop stops following changes and waits for the follower, or until ctx
// ends, then returns ctx's error. The contracts loaded stay readable. It is
// safe to call more than once, and before Start (then Start can no longer
// start it).
func (r *Registry) Stop(ctx context.Context) error { return r.life.Stop(ctx) }

func (r *Registry) apply(e jetstream.KeyValueEntry) {
	typ := e.Key()[len("c."):]
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(r.contracts, typ)
		return
	}
	var c Contract
	if json.Unmarshal(e.Value(), &c) == nil {
		r.contracts[typ] = &c
	}
}

// Get returns a copy of a contract.
func (r *Registry) Get(typ string) (*Contract, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.contracts[typ]
	if !ok {
		return nil, false
	}
	cp := *c
	cp.Versions = slices.Clone(c.Versions)
	return &cp, true
}

// List returns every contract, by type.
func (r *Registry) List() []*Contract {
	r.mu.RLock()
	types := make([]string, 0, len(r.contracts))
	for t := range r.contracts {
		types = append(types, t)
	}
	r.mu.RUnlock()
	slices.Sort(types)
	out := make([]*Contract, 0, len(types))
	for _, t := range types {
		if c, ok := r.Get(t); ok {
			out = append(out, c)
		}
	}
	return out
}

// Version returns version n of typ (0 = latest).
func (r *Registry) Version(typ string, n int) (*Version, error) {
	c, ok := r.Get(typ)
	if !ok || len(c.Versions) == 0 {
		return nil, ErrNotFound
	}
	if n == 0 {
		return c.Latest(), nil
	}
	if n < 1 || n > len(c.Versions) {
		return nil, ErrNotFound
	}
	return &c.Versions[n-1], nil
}

// Fingerprint is the SHA-256 of a schema's canonical JSON: the same schema with
// other spacing or key order has the same fingerprint.
func Fingerprint(schema []byte) (string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(schema))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	canon, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:]), nil
}

// Registered is the answer to a registration.
type Registered struct {
	// Version is the version that holds the schema.
	Version *Version
	// Created is false when an identical schema was already registered.
	Created bool
	// Result is the compatibility verdict (nil for a first version).
	Result *Result
}

// Register adds schema as the next version of typ, after checking that it is a
// valid JSON Schema and compatible with the earlier versions under the
// contract's mode. An identical schema returns the existing version. meta sets
// the contract's fields when given (a zero Mode keeps the current one).
// Concurrent registrations are serialised by the bucket's revision check.
func (r *Registry) Register(ctx context.Context, typ string, schema, example []byte, meta Meta) (*Registered, error) {
	if _, err := compileNew(schema); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	fp, err := Fingerprint(schema)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	for range 10 {
		entry, err := r.kv.Get(ctx, "c."+typ)
		var c Contract
		var rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			c = Contract{Type: typ, Compatibility: Backward, Origin: meta.Origin}
		case err != nil:
			return nil, err
		default:
			if err := json.Unmarshal(entry.Value(), &c); err != nil {
				return nil, err
			}
			rev = entry.Revision()
		}
		if c.Origin == "config" && meta.Origin != "config" {
			return nil, ErrDeclaredInConfig
		}
		applyMeta(&c, meta)
		for i := range c.Versions {
			if c.Versions[i].Fingerprint == fp {
				if err := r.save(ctx, &c, rev); errors.Is(err, jetstream.ErrKeyExists) {
					continue
				} else if err != nil {
					return nil, err
				}
				return &Registered{Version: &c.Versions[i]}, nil
			}
		}
		var res *Result
		if len(c.Versions) > 0 {
			previous := make([][]byte, len(c.Versions))
			for i, v := range c.Versions {
				previous[i] = v.Schema
			}
			got, err := compat.Check(c.Compatibility, c.Lenient, schema, previous)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
			}
			res = &got
			if !got.Compatible {
				return &Registered{Result: res}, ErrIncompatible
			}
		}
		v := Version{Version: len(c.Versions) + 1, Schema: compact(schema), Fingerprint: fp, CreatedAt: time.Now().UTC()}
		if len(example) > 0 {
			v.Example = compact(example)
		}
		c.Versions = append(c.Versions, v)
		if err := r.save(ctx, &c, rev); errors.Is(err, jetstream.ErrKeyExists) {
			continue // someone else registered meanwhile: check again
		} else if err != nil {
			return nil, err
		}
		return &Registered{Version: &c.Versions[len(c.Versions)-1], Created: true, Result: res}, nil
	}
	return nil, errors.New("too many concurrent registrations for " + typ + "; try again")
}

func applyMeta(c *Contract, m Meta) {
	if m.Owner != "" {
		c.Owner = m.Owner
	}
	if m.Description != "" {
		c.Description = m.Description
	}
	if m.Compatibility != "" {
		c.Compatibility = m.Compatibility
	}
	if m.Lenient != nil {
		c.Lenient = *m.Lenient
	}
	if m.Origin != "" {
		c.Origin = m.Origin
	}
}

// save writes c if the key is still at rev (0: must not exist yet).
func (r *Registry) save(ctx context.Context, c *Contract, rev uint64) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = r.kv.Create(ctx, "c."+c.Type, raw)
	} else {
		_, err = r.kv.Update(ctx, "c."+c.Type, raw, rev)
	}
	if err != nil && (errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err)) {
		return jetstream.ErrKeyExists
	}
	if err == nil {
		r.apply(staticEntry{key: "c." + c.Type, value: raw})
	}
	return err
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// CheckOnly runs the compatibility check of a candidate schema without
// registering it. A type without versions is compatible with anything.
func (r *Registry) CheckOnly(typ string, schema []byte, mode Mode) (*Result, error) {
	if _, err := compileNew(schema); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	c, ok := r.Get(typ)
	if mode == "" {
		mode = Backward
		if ok {
			mode = c.Compatibility
		}
	}
	lenient := ok && c.Lenient
	var previous [][]byte
	if ok {
		for _, v := range c.Versions {
			previous = append(previous, v.Schema)
		}
	}
	if len(previous) == 0 {
		return &Result{Compatible: true, Mode: mode, Lenient: lenient, Issues: []Issue{}}, nil
	}
	res, err := compat.Check(mode, lenient, schema, previous)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	return &res, nil
}

// Deprecate marks typ (version 0) or one of its versions as deprecated.
func (r *Registry) Deprecate(ctx context.Context, typ string, version int, d *Deprecation, origin string) error {
	for range 10 {
		entry, err := r.kv.Get(ctx, "c."+typ)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var c Contract
		if err := json.Unmarshal(entry.Value(), &c); err != nil {
			return err
		}
		if c.Origin == "config" && origin != "config" {
			return ErrDeclaredInConfig
		}
		if version == 0 {
			c.Deprecated = d
		} else {
			if version < 1 || version > len(c.Versions) {
				return ErrNotFound
			}
			c.Versions[version-1].Deprecated = d
		}
		if err := r.save(ctx, &c, entry.Revision()); errors.Is(err, jetstream.ErrKeyExists) {
			continue
		} else {
			return err
		}
	}
	return errors.New("too many concurrent changes to " + typ)
}

// DataSchema is the URI of a version, carried in events' dataschema.
func (r *Registry) DataSchema(typ string, version int) string {
	return r.baseURL + "/v1/contracts/" + typ + "/versions/" + strconv.Itoa(version)
}

var dataSchemaPath = regexp.MustCompile(`/contracts/([A-Za-z0-9_.-]+)/versions/([0-9]+)$`)

// parseDataSchema finds the version a dataschema URI names, for typ.
func parseDataSchema(typ, uri string) (int, bool) {
	m := dataSchemaPath.FindStringSubmatch(uri)
	if m == nil || m[1] != typ {
		return 0, false
	}
	n, err := strconv.Atoi(m[2])
	return n, err == nil
}

func compact(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return append(json.RawMessage(nil), b...)
	}
	return buf.Bytes()
}

// staticEntry applies a write to the local view at once, before the watcher
// brings it back, so that a registration is visible to the next request.
type staticEntry struct {
	jetstream.KeyValueEntry
	key   string
	value []byte
}

func (e staticEntry) Key() string                     { return e.key }
func (e staticEntry) Value() []byte                   { return e.value }
func (e staticEntry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }

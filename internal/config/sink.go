package config

// Sink loads events of some types into a store. It is declared in weir.yaml
// (sinks.<name>) or created through the API (POST /v1/sinks); when both name
// the same sink, weir.yaml wins and the API may not change it.
type Sink struct {
	// Types are event type patterns, as for a subscription. At least one.
	Types []string `yaml:"types" json:"types"`
	// Filter is an optional CEL expression over the event; events it rejects
	// are skipped.
	Filter string `yaml:"filter" json:"filter,omitempty"`
	// Start is where a new sink begins: "all" (default, everything the bus
	// still holds) or "new" (events arriving from now on).
	Start string `yaml:"start" json:"start,omitempty"`
	// ClickHouse loads events into a ClickHouse server. Exactly one provider
	// section is set.
	ClickHouse *ClickHouseSink `yaml:"clickhouse" json:"clickhouse,omitempty"`
}

// Kind is the name of the provider section that is set, or "" when none is.
func (s *Sink) Kind() string {
	switch {
	case s.ClickHouse != nil:
		return "clickhouse"
	}
	return ""
}

// ClickHouseSink is a sink's ClickHouse section.
type ClickHouseSink struct {
	// Addr is the server's native-protocol address, host:port (default port 9000).
	Addr string `yaml:"addr" json:"addr"`
	// Database holds the sink's tables. Default "default".
	Database string `yaml:"database" json:"database,omitempty"`
	// Table is the table every event goes to. Default "weir_events".
	Table string `yaml:"table" json:"table,omitempty"`
	// User and Password sign in; default user "default" with no password.
	User     string `yaml:"user" json:"user,omitempty"`
	Password string `yaml:"password" json:"password,omitempty"`
	// Batch bounds one insert.
	Batch SinkBatch `yaml:"batch" json:"batch,omitzero"`
	// Tables are per-type tables, by table name: events of the table's type
	// also go there, with typed columns taken from their data.
	Tables map[string]*ClickHouseTable `yaml:"tables" json:"tables,omitempty"`
}

// SinkBatch bounds one batch written to a store.
type SinkBatch struct {
	// MaxRows is the most events in one batch. Default 10000.
	MaxRows int `yaml:"max_rows" json:"max_rows,omitempty"`
	// MaxWait is the longest an event waits for its batch to fill. Default 1s.
	MaxWait Duration `yaml:"max_wait" json:"max_wait,omitempty"`
	// MaxBytes bounds the events of one batch, in bytes: a batch is
	// written once its events reach it (it may pass it by one event).
	// Default 16 MiB (16777216), from 1 MiB to 256 MiB.
	MaxBytes int `yaml:"max_bytes" json:"max_bytes,omitempty"`
}

// ClickHouseTable is a per-type table of a ClickHouse sink.
type ClickHouseTable struct {
	// Type is the event type (exact, no pattern) whose events fill the table.
	Type string `yaml:"type" json:"type"`
	// Columns map a column name to where its value comes from and its type.
	Columns map[string]*ClickHouseColumn `yaml:"columns" json:"columns"`
}

// ClickHouseColumn is one typed column of a per-type table.
type ClickHouseColumn struct {
	// Pointer is a JSON pointer into the event's data, e.g. "/total".
	Pointer string `yaml:"pointer" json:"pointer"`
	// Type is the ClickHouse type, e.g. "Decimal(12,2)", "String", "UInt32",
	// "Float64", "DateTime", "Nullable(String)".
	Type string `yaml:"type" json:"type"`
}

// View is a read model kept up to date from the bus (views.<name>).
type View struct {
	// Kind is "latest" (the latest state per key) or "count" (counts per
	// time bucket).
	Kind string `yaml:"kind" json:"kind"`
	// Types are event type patterns. At least one.
	Types []string `yaml:"types" json:"types"`
	// Filter is an optional CEL expression; events it rejects are skipped.
	Filter string `yaml:"filter" json:"filter,omitempty"`

	// Key (latest) is a JSON pointer into data ("/order_id") or a CEL
	// expression over the event that yields the key.
	Key string `yaml:"key" json:"key,omitempty"`
	// Fields (latest) are the values kept per key: name -> JSON pointer into
	// data. Empty keeps the whole data.
	Fields map[string]string `yaml:"fields" json:"fields,omitempty"`
	// DeleteWhen (latest) is a CEL expression; an event for which it is true
	// removes its key.
	DeleteWhen string `yaml:"delete_when" json:"delete_when,omitempty"`

	// Every (count) is the bucket width, e.g. "1m". Default 1m.
	Every Duration `yaml:"every" json:"every,omitempty"`
	// By (count) are the attributes counted apart: "type", "source", or a
	// JSON pointer into data.
	By []string `yaml:"by" json:"by,omitempty"`
	// Sum (count) is an optional JSON pointer to a number added up per bucket.
	Sum string `yaml:"sum" json:"sum,omitempty"`
}

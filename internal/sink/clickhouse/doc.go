// Package clickhouse is the ClickHouse sink: it loads events from the bus into
// a ClickHouse server over the native protocol (clickhouse-go v2).
//
// Every event goes to one table, weir_events by default, whose layout is
// fixed (see docs/analytics.md, "The table layout"). Per-type tables add typed
// columns taken from the events' data by JSON pointer. Start creates what is
// missing and adds new columns; it refuses any other change with a
// *MigrationError that says what to do, because weir never drops or rewrites
// a column that may hold data.
//
// The sink also keeps the twins of the views it sees every event of (see
// twin.go and docs/analytics.md, "Views in SQL"): tables and ClickHouse
// views that hold in SQL what the views hold on the bus.
//
// The package keeps to what ClickHouse 18.16 (Debian's server) and current
// servers both have: no DateTime64 (the milliseconds of an event's time go to
// their own column), no ADD COLUMN IF NOT EXISTS (system.columns is read
// first), no JSON functions at insert time (values are converted here).
package clickhouse

// Package view keeps declared read models (views.<name> in weir.yaml) up to
// date from the bus, on JetStream KV buckets, and reads them for the API.
//
// A view is compiled once (Compile) into a Spec whose Extract turns one event
// into what it contributes (a key and its fields, or a bucket, its by-values
// and a sum): a pure function, so that a store other than KV can keep the
// same view from the same events.
//
// Storage: the bucket weir-views holds, per view, which generation is
// current (and which one a rebuild is filling); each generation has its own
// bucket weir-view-<name>-<gen>. A Runner per generation reads the events of
// the view's types in stream order and applies them one at a time, retrying a
// failed write until it succeeds: it never skips one. Every record keeps the
// stream sequence of the last event applied to it, and writes are
// compare-and-set on the record's revision, so an event applied twice (after
// a restart, or by two nodes at once) changes nothing the second time.
package view

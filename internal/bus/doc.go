// Package bus is weir's connection to NATS JetStream: the embedded server that
// `weir serve` runs by default (optionally listening on a port, with
// credentials it creates and keeps under the data directory), or an external
// server or cluster.
//
// It owns the EVENTS stream and its subjects (events.<type>, and direct.<sub>
// for redrives and replays addressed to one subscription), and publishes onto
// it with the CloudEvents headers set (Publish, EventIDAt). The engine does
// the storing, acknowledging and replicating; the stream's own short window
// de-duplicates racing publishes of one message id.
//
// It also remembers senders' delivery keys for the long de-duplication window
// (Recall, Remember): in a local Pebble store behind Bloom filters when this
// process is the bus's only writer, else in the weir-dedupe key-value bucket
// that every node sharing the bus reads.
//
// Other parts keep their own streams and buckets on the same connection
// (JetStream, Conn); the package does not know them.
package bus

// Package archive writes every event on the bus, continuously, to compressed
// NDJSON segments: one file per event type per hour, in a local directory and,
// when configured, in S3-compatible object storage. Replays older than the
// bus's retention read them back with Read.
//
// # Layout
//
//	<Dir>/position.json                              the archiver's durable position
//	<Dir>/<type>/<YYYY>/<MM>/<DD>/<HH>.ndjson.gz      one segment: a type's events of one UTC hour
//
// The hour is the one of the message's JetStream timestamp (when the bus stored
// it), not the event's own "time" attribute, which the sender may set. Each line
// of a segment is exactly the CloudEvent JSON the bus holds, so
// `zcat 13.ndjson.gz | jq` works. A segment is a series of gzip members, one
// appended by each flush (two or more only when a flush holds more lines than
// one member's index can describe, several thousand); concatenated members
// are one valid gzip stream, read
// whole by zcat and by Go's gzip.Reader. Each member's header carries, in an
// extra field that gzip tools ignore, the stream sequence and timestamp of each
// of its lines: Read orders and filters by them without changing a line.
//
// A type that cannot be a directory name as it is ("/", a leading ".", "%") is
// escaped with %XX in its directory name.
//
// # Exactness
//
// Every event on the bus appears in the archive once, across crashes (kill -9
// included) and restarts:
//
//   - The archiver reads the durable pull consumer "weir-archive" and buffers
//     events for Config.FlushEvery. A flush appends one gzip member to each
//     segment it touches, fsyncs those files, then writes position.json
//     atomically (temporary file, fsync, rename, fsync of the directory) with
//     the highest stream sequence archived (last_seq) and every open segment's
//     committed length. Only then are the flushed messages acknowledged.
//   - A segment is entered in position.json (with its length at that moment,
//     0 for a new one) before its first byte is written, so no file outside
//     position.json can hold data that was not committed.
//   - On start, every segment in position.json is truncated to its committed
//     length, which drops whatever a crash left after the last commit (a torn
//     gzip member, or whole members whose commit never happened). Messages at
//     or below last_seq that the consumer delivers again are acknowledged and
//     skipped.
//   - Everything at or below last_seq is archived. Messages still unacknowledged
//     from before a crash come back from the consumer only after its ack wait,
//     after newer ones; so when a message arrives past a hole, the archiver
//     first reads the hole's messages from the stream (direct get, or an
//     ordered consumer for a long hole), in order, and archives them. It does
//     the same at start for what the consumer delivered before, and every few
//     seconds while the bus is quiet; that also covers a delivery lost on the
//     way.
//
// Read also de-duplicates by event id and stream time, for segments that were
// written by other means.
//
// # Closing and S3
//
// An hour's segment is closed Config.CloseAfter after the hour ends, once the
// archiver has passed that hour (or has nothing left to read). With S3
// configured, each closed segment is then uploaded (PutObject, key
// <Prefix>/<type>/<YYYY>/<MM>/<DD>/<HH>.ndjson.gz) by a separate goroutine that
// retries with backoff and never holds up archiving; position.json lists the
// segments still to upload and the last ones uploaded. Local segments stay
// after their upload: removing old ones is the operator's choice, and Read
// takes a segment from S3 when it is no longer on disk. The bucket must exist.
//
// An event that arrives for an hour already closed (a clock step on the bus)
// reopens that hour's segment; it is closed, and uploaded, again later.
package archive

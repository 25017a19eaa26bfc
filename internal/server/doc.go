// Package server wires weir together from its configuration: the bus, ingress,
// the API and the operations endpoints, all on one HTTP listener, run under one
// context and stopped in order.
//
// # Lifecycle of long-running parts
//
// Every long-running part (the contract registry, delivery's manager, the
// sinks' manager, the retention keeper, the archiver, and any part added
// later) is a [Component] and keeps one contract:
//
//   - Its constructor takes every dependency it needs; nothing is set on it
//     after construction. A constructor starts no goroutine and does no I/O
//     on the bus.
//   - Start(ctx) starts it. ctx bounds the start-up only (opening streams and
//     buckets, loading state, repairing files): when ctx ends, Start gives up
//     and returns an error. The background work runs under a context the
//     component owns, derived from ctx with context.WithoutCancel (so it keeps
//     ctx's values, such as logging attributes, but not its deadline or
//     cancellation), and cancelled by Stop. A component starts once: a second
//     Start, or a Start after Stop, returns an error.
//   - Stop(ctx) stops it softly (the archiver flushes what it holds, delivery
//     lets deliveries in flight finish) and waits for every goroutine it
//     started. When ctx ends first, Stop cancels the background work and
//     returns ctx's error without waiting further. Stop may be called more
//     than once, and before Start (it then returns at once, and Start can no
//     longer start the component). After a failed Start, Stop ends whatever
//     the failed Start had already started.
//
// # Order
//
// Server.Start builds and starts, in this order: the bus, the dead-letter
// store, the contract registry, ingress, delivery's manager, the sinks'
// manager, the retention
// keeper (after putting weir.yaml's policy in force), the archiver, the
// views, the request log and the sources created through the API, then the API and the
// HTTP listener. Each part starts after the parts it uses.
//
// Server.Stop stops in the reverse order: the HTTP listener (in-flight
// requests finish, bounded by Stop's ctx), then the cdc sources (each
// reader, then its publisher, whose last changes are stored and confirmed),
// then the views, the archiver, the
// retention keeper, delivery's manager, the sinks' manager (each sink writes
// the batch in hand), the sources' follower, the request log (its
// records in flight), the contract registry, and last the bus. The
// parts behind the listener are stopped with a ctx that does not end, so that
// the archiver's last flush is not cut short. When Start fails half-way, what
// it had started is stopped the same way.
package server

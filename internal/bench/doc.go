// Package bench measures weir from the outside, the way a sender and a micro
// app see it: `weir bench` starts weir as a child process, drives signed
// Standard Webhooks requests at POST /in/{source} from many connections, and
// receives the push deliveries in a small HTTP server of its own.
//
// A run is a list of scenarios, each on a fresh weir child with an empty data
// directory, so that one scenario's backlog cannot slow the next:
//
//   - ceiling: the same load against a bare Go HTTP handler, run as a separate
//     child process (`weir bench bare-server`), which is what Go and the
//     machine can do at all; weir's figures are read against it;
//   - ingress-saturation: every connection sends back to back to a weir with
//     no subscription, which is what ingress alone takes (the issue's "signed,
//     de-duplicated, acked by JetStream before the 2xx");
//   - saturation: the same with one push subscription delivering every event
//     to the bench's receiver on the same CPUs;
//   - rate-R: an open loop at R requests per second whose latency counts from
//     each request's intended send time, so a stall is not hidden by the
//     sender waiting for it (no coordinated omission);
//   - push-drain: a backlog stored first, then a subscription created with
//     start all, timed until every stored event has been delivered;
//   - crash: SIGKILL and restart weir under load and check that every
//     acknowledged event is delivered at least once.
//
// Files: options.go (what can be asked for), events.go (per-event timings),
// load.go (the sender), receiver.go (the micro app), child.go and proc_*.go
// (child processes, what /proc says about them, and the diagnostics kept
// when deliveries are missing), suite.go (the scenarios), drain.go,
// crash.go, report.go (figures, table, JSON).
package bench

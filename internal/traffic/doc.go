// Package traffic keeps live figures of weir's traffic in memory, so that pages
// and GET /v1/traffic never scan the event stream per view: events accepted per
// minute over the last hour by type and by source, and deliveries by outcome.
//
// The counters are this node's, since it started: a restart empties them, and
// each node of a cluster counts only what passed through it. The one figure that
// survives restarts and spans nodes is the time an event type was last stored,
// which LastSeen reads from the bus itself.
//
// Ingress and delivery feed the counters through small observer interfaces of
// their own (ingress.Observer, delivery.Observer) that Counters implements, so
// that neither of them imports this package and data still flows one way.
package traffic

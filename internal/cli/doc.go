// Package cli is weir's command line, behind the thin cmd/weir main: Main
// parses the command and its flags and runs one of
//
//   - serve: weir itself (internal/server), until SIGTERM or SIGINT;
//   - send: signs a JSON file with a source's scheme and posts it to /in/NAME;
//   - tail: prints events straight from the bus with an ordered consumer;
//   - listen: a receiver for push deliveries that checks their signature and
//     prints them, answering with a chosen status or failing on purpose;
//   - contract check and contract import: the CI gate that compares schema
//     files with a running weir's contracts, and the AsyncAPI importer;
//   - deadletters and replay: API clients for the dead-letter list (ls, show,
//     redrive, resolve) and for replay jobs;
//   - bench: the load measurement (internal/bench) against a bare Go ceiling;
//   - version and help.
//
// Commands that talk to a running weir find it with --server, else $WEIR_URL,
// else weir.yaml's server.addr, and read only the parts of weir.yaml they need.
// Every command and subcommand takes --help.
package cli

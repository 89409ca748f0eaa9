// Package server is the daemon's HTTP API: every route in one place (server.go), the
// JSON decoding and encoding rules (one object per request, unknown fields refused,
// errors as {"error": "..."} with the status that fits), who asked (the unix
// socket's peer credentials, peer.go), and the audit log's middleware, which records
// every call that changes something and every read of data (audit.go).
//
// It speaks only the wire types of engine/api, through the Service interface the daemon
// implements; it owns no state. It must not import engine, engine/catalog, drc or
// targets: a change to the daemon's records reaches the wire only through engine's
// mapping (engine/wire.go).
package server

// Package engine is the daemon's core: it owns the catalog (engine/catalog), loads the
// configuration (engine/config), queues and executes runs (backups, restores, ...)
// with their hooks, records how each ended, and serves the JSON API on a unix socket
// that the CLI (and the agencies' portal) use; Client is that API's Go client.
//
// It imports targets (what is protected) and drc (where copies live) and joins them:
// a target writes a snapshot through a Writer that engine implements over a drc.Repo.
// Nothing below engine imports it.
package engine

// Package engine is the daemon: it wires its parts together and owns their life cycle.
// It opens the catalog (engine/catalog) and the DRCs, builds the targets from the
// configuration (engine/config), turns requests and due schedules (engine/schedule)
// into recorded runs on the queue (engine/queue), hands each run's body to
// engine/runs, keeps the DRCs in step (engine/replication), takes leases on the
// repositories it uses (engine/lease), recovers after a crash, and serves the API
// (engine/server) through service.go, which maps its records to the wire types of
// engine/api (wire.go).
//
// The Daemon's methods are the commands (Backup, Restore, Forget, Prune, Check, Unlock,
// Verify, Replicate, Drill, Restic) and its life cycle; the queries the API answers
// (status, snapshots, schedule, DRC statuses, reports) are the service's. Nothing below
// engine imports it: its parts reach it through the narrow interfaces they declare
// (replication.Host, runs.Hooks, server.Service).
package engine

// Package queue runs the daemon's jobs under its limits: daemon.concurrency slots, one
// run at a time per target, a DRC's own concurrency, a repository used by an exclusive
// run (forget, prune, check, unlock) by nothing else, serial keys (one replication pass
// per secondary and agency), and scheduled runs held during a maintenance window. A job
// that waits says why.
//
// It owns the order of work and nothing else: what a job does is its Exec function.
// It imports only engine/catalog and engine/api (the run records and the progress a job
// publishes); it must not import engine, drc or targets.
package queue

// Package lease owns cadang's leases on repositories and its judgement of restic's
// locks: which process this daemon is (host, boot id, pid and start), the lease a run
// holds while it uses a repository (with each restic it started), whether a lock is
// provably cadang's and dead, its removal, the retry of a run that found its
// repository locked (LockedError names the holders), the recovery of the locks a
// stopped daemon left, and `cadang unlock`'s rules.
//
// It reaches the daemon only through what New is given (the catalog, a clock, a DRC by
// name, whether a run executes now). It imports engine/catalog, engine/queue,
// engine/api and drc; it must not import engine, engine/server or targets.
package lease

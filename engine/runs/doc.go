// Package runs holds the body of every kind of run the daemon queues: a backup (its
// targets.Writer over a restic repository, hooks, classification good/partial/bad and
// the snapshot's record), a restore (its targets.Reader), a forget with its retention
// plan, prune, check, unlock, a restore drill with its report, a restic hand run, and
// the recovery of what a dead daemon left (targets' leftovers, repositories' locks,
// interrupted snapshots).
//
// A Runner is given the daemon's parts (Deps) and reaches the daemon itself only
// through Hooks (what follows a backup, a prune PruneGate held back). It must not
// import engine, engine/server or cmd.
package runs

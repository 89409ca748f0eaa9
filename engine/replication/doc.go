// Package replication keeps every secondary DRC in step with the primary, and decides
// where work goes when a DRC is down: replicate runs (one pass of drc's mirror per
// secondary and agency) after each backup and whenever a background scan finds work,
// health probes of every DRC, the ledger of which snapshot is restorable where, alarms
// the mirror raises, the replication lag of each secondary, the DRC a backup or a
// restore uses while the primary does not answer, and the gate that keeps a prune at
// the primary from deleting what a snapshot still at a secondary needs.
//
// It reaches the daemon only through Host (queue a run, look up a job, a pass is done).
// It imports drc, engine/catalog, engine/config and engine/queue; it must not import
// engine, engine/server or targets.
package replication

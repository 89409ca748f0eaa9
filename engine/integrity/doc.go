// Package integrity checks that the copies at the DRCs are whole and alike: a verify
// run (restic check at a DRC, every object hashed against its name with read_data,
// and the DRC's objects compared with every other DRC's, telling apart what
// replication explains from what is a problem).
//
// It imports drc, engine/catalog, engine/queue and engine/api; it must not import
// engine, engine/server or targets.
package integrity

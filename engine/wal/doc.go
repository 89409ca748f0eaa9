// Package wal is the spool of PostgreSQL write-ahead-log segments of continuous
// protection (postgres `mode: continuous`): `cadang wal-push` hands a segment to the
// daemon, which writes it here with Put and answers only once the file and its folder
// are fsynced; the archiver then batches the spool into one snapshot per interval and
// removes the segments only once that snapshot is recorded.
//
// It also knows the names of segments: their order, the next one, and the gaps in a
// chain (an alarm names the first missing segment).
//
// It imports nothing of cadang: the daemon (engine) runs the receiver and the
// archiver's spool, `cadang wal-push` (cmd) uses Push.
package wal

package engine

import (
	"context"
	"time"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/cluster"
	"github.com/cadang/cadang/engine/wal"
	"github.com/cadang/cadang/targets/postgres"
)

// A server without activity writes no WAL, so the archiver stores no batch, and the
// age of the target's newest snapshot grows although nothing is at risk. When the spool
// is empty, the archiver asks the server where its WAL ends (checkWALIdle). The target
// is up to date at the time asked (Daemon.walUpToDate) when
//
//   - the WAL ends in the last segment a recorded snapshot holds, or
//   - it ends in the segment after it and has not moved for twice the archive
//     interval: PostgreSQL switches segments after archive_timeout (which pg setup
//     sets to the interval) whenever a record that matters was written since the last
//     switch, so what stays there is only what it marks unimportant (the running
//     transactions' snapshot the background writer logs after a switch).
//
// Its RPO is then measured from that time at the DRCs that hold its newest snapshot
// (rpoNewest). The memory is the daemon's: after a restart the next check finds it
// again.

// walSeen is a server's WAL end as last read, and since when it has been there.
type walSeen struct {
	lsn   string
	since time.Time
}

// checkWALIdle records that t is up to date if its server has written nothing that
// matters since the last segment stored; the spool was empty.
func (d *Daemon) checkWALIdle(t *target, spool *wal.Spool, iv time.Duration) {
	p, ok := t.Impl.(cluster.WALPositioner)
	if !ok {
		return
	}
	last, err := spool.LastArchived()
	if err != nil || last == "" {
		return
	}
	pos, asked, ok, err := cluster.IdlePosition(context.Background(), spool, p, iv)
	if err != nil {
		d.log.Debug("WAL: the server's position not read", "target", t.Cfg.Name, "err", err)
	}
	if ok {
		d.noteWALPosition(t.Cfg.Name, last, pos, asked, iv)
	}
}

// noteWALPosition records that target is up to date at asked if its server's WAL
// ended at pos then, with nothing left to store after last, the newest segment a
// recorded snapshot holds (the daemon's own spool, or an agent's as its heartbeat
// says).
func (d *Daemon) noteWALPosition(target, last string, pos postgres.WALPosition, asked time.Time, iv time.Duration) {
	seen := walSeen{lsn: pos.LSN, since: asked}
	if v, ok := d.walLSN.Load(target); ok && v.(walSeen).lsn == pos.LSN {
		seen = v.(walSeen)
	}
	d.walLSN.Store(target, seen)
	upToDate := pos.Segment == last
	if !upToDate && asked.Sub(seen.since) >= 2*iv {
		l, err1 := wal.Parse(last, pos.SegmentSize)
		c, err2 := wal.Parse(pos.Segment, pos.SegmentSize)
		upToDate = err1 == nil && err2 == nil && c.Timeline == l.Timeline && c.Number == l.Number+1
	}
	if upToDate {
		d.walUpToDate.Store(target, asked)
	}
}

// rpoNewest is the time a target's RPO at drc is measured from: its newest good
// snapshot there, or, for a continuous target whose server wrote nothing since, the
// time that was last found so, if drc holds the target's newest good snapshot (the one
// with the last segment).
func (d *Daemon) rpoNewest(target string, snaps []catalog.Snapshot, drc string) time.Time {
	newest := newestGood(snaps, drc)
	v, ok := d.walUpToDate.Load(target)
	if !ok || newest.IsZero() {
		return newest
	}
	for _, s := range snaps {
		if s.Time.After(newest) && s.Status == catalog.SnapshotGood {
			return newest // a newer snapshot is not at drc yet
		}
	}
	if checked := v.(time.Time); checked.After(newest) {
		return checked
	}
	return newest
}

package engine

import (
	"fmt"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/lease"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/schedule"
)

// setupUnattended prepares what the unattended daemon needs beside the foundation:
// who this process is (for leases), the schedules, the per-DRC limits and the
// maintenance windows of the queue.
func (d *Daemon) setupUnattended() {
	d.leases = lease.New(lease.Config{Catalog: d.cat, Logger: d.log, Now: d.now, PID: d.pid, Site: d.site,
		Running: func(run uint64) bool { return d.queue.Get(run) != nil }})
	d.sched = schedule.New(d.cfg)
	d.queue.DRCLimits = map[string]int{}
	for _, c := range d.cfg.DRCs {
		if c.Concurrency > 0 {
			d.queue.DRCLimits[c.Name] = c.Concurrency
		}
	}
	d.queue.Hold = d.blackoutHold
}

// blackoutHold says why scheduled runs wait now: a maintenance window is open.
func (d *Daemon) blackoutHold() string {
	w, ok := d.cfg.Scheduler.BlackoutAt(d.now())
	if !ok {
		return ""
	}
	return fmt.Sprintf("waiting: maintenance window %q until %s", w.Name, w.End.In(d.sched.Loc()).Format("2006-01-02 15:04 MST"))
}

// usesOf is usesOf with what only the daemon knows: a replicate run also reads (and,
// bringing snapshots back, writes) the agency's repository at the primary.
func (d *Daemon) usesOf(r *catalog.Run) queue.Uses {
	u := queue.UsesOf(r)
	if r.Op == "replicate" && r.Agency != "" && len(d.sites) > 0 && r.DRC != d.primary().Name {
		u.Shared = append(u.Shared, catalog.RepoKey(d.primary().Name, r.Agency))
	}
	return u
}

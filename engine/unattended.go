package engine

import (
	"fmt"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/queue"
)

// setupQueue gives the queue the per-DRC limits (the DRCs do not reload) and the
// maintenance windows (which do: the hold reads the live configuration).
func (d *Daemon) setupQueue(cfg *config.Config) {
	d.queue.DRCLimits = map[string]int{}
	for _, c := range cfg.DRCs {
		if c.Concurrency > 0 {
			d.queue.DRCLimits[c.Name] = c.Concurrency
		}
	}
	// Why scheduled runs wait now: a maintenance window is open.
	d.queue.Hold = func() string {
		cf := d.conf()
		w, ok := cf.cfg.Scheduler.BlackoutAt(d.now())
		if !ok {
			return ""
		}
		return fmt.Sprintf("waiting: maintenance window %q until %s", w.Name, w.End.In(cf.sched.Loc()).Format("2006-01-02 15:04 MST"))
	}
}

// usesOf is queue.UsesOf with what only the daemon knows: a replicate run also reads
// (and, bringing snapshots back, writes) the agency's repository at the primary.
func (l siteList) usesOf(r *catalog.Run) queue.Uses {
	u := queue.UsesOf(r)
	if r.Op == "replicate" && r.Agency != "" && len(l) > 0 && r.DRC != l.primary().Name {
		u.Shared = append(u.Shared, catalog.RepoKey(l.primary().Name, r.Agency))
	}
	return u
}

package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
)

// Unlocking on demand (`cadang unlock`): an unlock run per agency's repository at a
// DRC, through the queue like a prune (it needs the repository alone, so no run of
// this daemon uses it meanwhile).
//
// Without All, a lock is removed only when it is proven stale: by cadang's leases
// (locks.go: a restic cadang started, now dead), or by restic's own rule, the one
// `restic unlock` applies: a lock not refreshed for 30 minutes (a live restic
// refreshes its locks every 5 minutes), or a lock of this host whose process no
// longer exists. With All, every lock goes, whoever holds it (`restic unlock
// --remove-all`): the operator has said the holders are gone. Every removal is
// written into the run's notes and logged at warning level, with who asked.

// resticStaleAfter is restic's own staleness timeout (internal/restic/lock.go).
const resticStaleAfter = 30 * time.Minute

// Unlock queues unlock runs on demand; requester says who asked (for the notes).
func (d *Daemon) Unlock(req UnlockRequest, requester string) ([]catalog.Run, error) {
	drcName := req.DRC
	if drcName == "" {
		drcName = "all"
	}
	return d.maintenance(MaintenanceRequest{DRC: drcName, Agency: req.Agency}, func(site *drc.Site, agency string) submission {
		r := &catalog.Run{Op: "unlock", Agency: agency, DRC: site.Name, Reason: reasonOnDemand}
		if req.All {
			r.Notes = append(r.Notes, "--all: every lock is removed, whoever holds it")
		}
		if requester != "" {
			r.Notes = append(r.Notes, "requested by "+requester)
		}
		return submission{run: r, prio: queue.PriorityOnDemand, key: "unlock/" + catalog.RepoKey(site.Name, agency),
			exec: func(ctx context.Context, j *queue.Job) error { return d.unlock(ctx, j, site, req.All) }}
	})
}

// unlock is an unlock run on demand.
func (d *Daemon) unlock(ctx context.Context, j *queue.Job, site *drc.Site, all bool) error {
	r := j.Run
	repo, ok, err := d.openForMaintenance(ctx, j, site)
	if err != nil || !ok {
		return err
	}
	j.SetProgress(func(p *Progress) { p.Phase = "clearing locks" })
	removed, kept, err := d.clearStaleLocks(ctx, repo)
	if err != nil {
		return err
	}
	for _, l := range removed {
		r.Notes = append(r.Notes, fmt.Sprintf("removed stale %s (a restic cadang started, now gone)", l))
	}
	var left []string
	removedAny := len(removed) > 0
	for _, v := range kept {
		why := ""
		switch {
		case all:
			why = "--all"
		case d.now().Sub(v.lock.Time) > resticStaleAfter:
			why = fmt.Sprintf("not refreshed for %s (restic refreshes a live lock every 5 minutes)", d.now().Sub(v.lock.Time).Round(time.Minute))
		case v.lock.Hostname == d.host && !pidExists(v.lock.PID) && (v.lease == nil || !d.leaseInUse(v.lease)):
			why = "its process no longer exists on this host"
		}
		if why == "" {
			left = append(left, fmt.Sprintf("%s (%s)", v.lock, v.why))
			continue
		}
		if err := repo.RemoveLock(ctx, v.lock.ID); err != nil {
			return err
		}
		removedAny = true
		r.Notes = append(r.Notes, fmt.Sprintf("removed %s: %s", v.lock, why))
		d.log.Warn("removed a restic lock on request", "drc", repo.DRC, "agency", repo.Agency, "lock", v.lock.ID,
			"pid", v.lock.PID, "host", v.lock.Hostname, "since", v.lock.Time, "why", why, "run", r.ID, "notes", strings.Join(r.Notes, "; "))
	}
	if len(left) > 0 {
		return fmt.Errorf("%d lock(s) not proven stale, kept: %s; `cadang unlock --all` removes them once you know their holders are gone",
			len(left), strings.Join(left, "; "))
	}
	if !removedAny {
		r.Notes = append(r.Notes, "no lock")
	}
	return nil
}

// pidExists reports whether a process with this pid exists on this host (restic's
// processExists: signal 0 succeeds); a zombie counts as gone.
func pidExists(pid int) bool {
	_, alive := procStat(pid)
	return alive
}

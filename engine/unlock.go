package engine

import (
	"context"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
)

// Unlocking on demand (`cadang unlock`): an unlock run per agency's repository at a
// DRC, through the queue like a prune (it needs the repository alone, so no run of
// this daemon uses it meanwhile); which locks go is engine/lease's judgement.

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
	repo, ok, err := d.openForMaintenance(ctx, j, site)
	if err != nil || !ok {
		return err
	}
	return d.leases.Unlock(ctx, j, repo, all)
}

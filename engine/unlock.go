package engine

import (
	"context"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
)

// Unlock queues unlock runs on demand; requester says who asked (for the notes).
func (d *Daemon) Unlock(req UnlockRequest, requester string) ([]catalog.Run, error) {
	cf := d.conf()
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
			exec: func(ctx context.Context, j *queue.Job) error { return cf.runs.Unlock(ctx, j, site, req.All) }}
	})
}

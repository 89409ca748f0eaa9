package engine

import (
	"context"
	"fmt"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
)

// Prune queues prune runs on demand.
func (d *Daemon) Prune(req MaintenanceRequest) ([]catalog.Run, error) {
	switch req.DRC {
	case "", d.sites.primary().Name:
	case "all":
		req.DRC = "" // the secondaries follow the primary's prune through replication
	default:
		if s, err := d.sites.site(req.DRC); err == nil && s.Role == drc.RoleSecondary {
			return nil, fmt.Errorf("%w: drc %q is a secondary: restic never prunes it; replication removes there what the primary's prune removed, after replication.delete_after", errBadRequest, s.Name)
		}
	}
	return d.maintenance(req, func(site *drc.Site, agency string) submission {
		return d.pruneSubmission(site, agency, reasonOnDemand, queue.PriorityOnDemand)
	})
}

// Check queues check runs on demand.
func (d *Daemon) Check(req MaintenanceRequest) ([]catalog.Run, error) {
	if req.ReadDataSubset != "" {
		if _, err := drc.ParseSubset(req.ReadDataSubset); err != nil {
			return nil, fmt.Errorf("%w: read_data_subset %v", errBadRequest, err)
		}
	}
	return d.maintenance(req, func(site *drc.Site, agency string) submission {
		return d.checkSubmission(site, agency, req.ReadDataSubset, reasonOnDemand, queue.PriorityOnDemand)
	})
}

func (d *Daemon) maintenance(req MaintenanceRequest, build func(*drc.Site, string) submission) ([]catalog.Run, error) {
	cf := d.conf()
	sites := []*drc.Site{d.sites.primary()}
	switch req.DRC {
	case "":
	case "all":
		sites = d.sites
	default:
		s, err := d.sites.site(req.DRC)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadRequest, err)
		}
		sites = []*drc.Site{s}
	}
	var agencies []string
	for _, a := range cf.cfg.Agencies {
		if req.Agency == "" || req.Agency == a.ID {
			agencies = append(agencies, a.ID)
		}
	}
	if len(agencies) == 0 {
		return nil, fmt.Errorf("%w: unknown agency %q", errBadRequest, req.Agency)
	}
	var subs []submission
	for _, s := range sites {
		for _, a := range agencies {
			sub := build(s, a)
			sub.key = ""
			subs = append(subs, sub)
		}
	}
	return d.submitAll(subs, nil)
}

func (d *Daemon) pruneSubmission(site *drc.Site, agency, reason string, prio int) submission {
	cf := d.conf()
	r := &catalog.Run{Op: "prune", Agency: agency, DRC: site.Name, Reason: reason}
	return submission{run: r, prio: prio, key: "prune/" + catalog.RepoKey(site.Name, agency),
		exec: func(ctx context.Context, j *queue.Job) error { return cf.runs.Prune(ctx, j, site) }}
}

func (d *Daemon) checkSubmission(site *drc.Site, agency, subset, reason string, prio int) submission {
	cf := d.conf()
	r := &catalog.Run{Op: "check", Agency: agency, DRC: site.Name, Reason: reason}
	return submission{run: r, prio: prio, key: "check/" + catalog.RepoKey(site.Name, agency),
		exec: func(ctx context.Context, j *queue.Job) error { return cf.runs.Check(ctx, j, site, subset) }}
}

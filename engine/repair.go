package engine

import (
	"context"
	"fmt"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/integrity"
	"github.com/cadang/cadang/engine/queue"
)

// Damage and its repair (docs/integrity.md). Whatever finds a damaged object records
// it in the catalog (catalog.RecordDamage) and calls damageFound: a repair run of that
// repository is queued at once, unless one already waits. A repair run needs the
// repository alone, like a check: no backup builds on the damage while it runs.

// damageFound queues the automatic repair of agency's repository at the DRC.
func (d *Daemon) damageFound(drcName, agency string) {
	site, err := d.sites.site(drcName)
	if err != nil {
		return
	}
	sub := d.repairSubmission(site, agency, false, "after damage was found", queue.PriorityOnDemand)
	if d.queue.Waiting(sub.key) != nil {
		return
	}
	if _, err := d.submitAll([]submission{sub}, nil); err != nil {
		d.log.Error("cannot queue the repair of damaged objects", "drc", drcName, "agency", agency, "err", err)
	}
}

func (d *Daemon) repairSubmission(site *drc.Site, agency string, dryRun bool, reason string, prio int) submission {
	r := &catalog.Run{Op: "repair", Agency: agency, DRC: site.Name, Reason: reason}
	key := "repair/" + catalog.RepoKey(site.Name, agency)
	if dryRun {
		key = "" // a dry run never joins a real one
	}
	return submission{run: r, prio: prio, key: key, exec: func(ctx context.Context, j *queue.Job) error {
		h := &integrity.Healer{Sites: d.sites, Catalog: d.cat, Leases: d.leases, Now: d.now, Log: d.log.With("run", j.Run.ID),
			OnDamage: d.damageFound}
		return h.Run(ctx, j, site, agency, dryRun)
	}}
}

// Repair queues repair runs on demand: one per DRC and agency with open damage (or the
// given ones).
func (d *Daemon) Repair(req RepairRequest) ([]catalog.Run, error) {
	cf := d.conf()
	sites := []*drc.Site(d.sites)
	if req.DRC != "" {
		s, err := d.sites.site(req.DRC)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadRequest, err)
		}
		sites = []*drc.Site{s}
	}
	known := false
	for _, a := range cf.cfg.Agencies {
		known = known || a.ID == req.Agency
	}
	if req.Agency != "" && !known {
		return nil, fmt.Errorf("%w: unknown agency %q", errBadRequest, req.Agency)
	}
	var subs []submission
	for _, s := range sites {
		open, err := d.cat.Damages(false, s.Name, req.Agency)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, dm := range open {
			if seen[dm.Agency] {
				continue
			}
			seen[dm.Agency] = true
			sub := d.repairSubmission(s, dm.Agency, req.DryRun, reasonOnDemand, queue.PriorityOnDemand)
			if !req.DryRun {
				if j := d.queue.Waiting(sub.key); j != nil {
					continue // the automatic one is waiting already
				}
			}
			sub.key = ""
			subs = append(subs, sub)
		}
	}
	if len(subs) == 0 {
		return []catalog.Run{}, nil
	}
	return d.submitAll(subs, nil)
}

// Damage returns damage records, newest first.
func (s service) Damage(all bool, drcName, agency string) ([]api.Damage, error) {
	out, err := s.d.cat.Damages(all, drcName, agency)
	if err != nil {
		return nil, wireErr(err)
	}
	list := make([]api.Damage, len(out))
	for i, d := range out {
		status := "open"
		if !d.Closed.IsZero() {
			status = d.Outcome
		}
		list[i] = api.Damage{ID: d.ID, DRC: d.DRC, Agency: d.Agency, Object: d.Object, How: d.How, Run: d.Run, Message: d.Message,
			First: d.First, Time: d.Last, Count: d.Count, Status: status, RepairedFrom: d.RepairedFrom, RepairRun: d.RepairRun,
			Closed: d.Closed, Lost: d.Lost, Snapshots: d.Snapshots, Note: d.Note}
	}
	return list, nil
}

func (s service) Repair(req RepairRequest) ([]RunInfo, error) { return s.runInfos(s.d.Repair(req)) }

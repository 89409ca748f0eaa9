package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/internal/oneline"
)

// Repository maintenance: prune and check, one run per agency's repository at a DRC,
// on the DRC's schedules (drcs[].maintenance) or on demand. Both need the repository
// alone (restic's exclusive lock): the queue keeps backups of the same repository
// apart from them.
//
// A check reads back part of the data: with read_data_subset 5%, the data is split in
// 20 parts and each check reads the next part (--read-data-subset n/20), so that every
// pack is read once every 20 checks. The rotation and the last result of every
// repository are kept in the catalog; each check is also a run with its summary.

// Prune queues prune runs on demand.
func (d *Daemon) Prune(req MaintenanceRequest) ([]catalog.Run, error) {
	switch req.DRC {
	case "", d.primary().Name:
	case "all":
		req.DRC = "" // the secondaries follow the primary's prune through replication
	default:
		if s, err := d.site(req.DRC); err == nil && s.Role == drc.RoleSecondary {
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
	sites := []*drc.Site{d.primary()}
	switch req.DRC {
	case "":
	case "all":
		sites = d.sites
	default:
		s, err := d.site(req.DRC)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadRequest, err)
		}
		sites = []*drc.Site{s}
	}
	var agencies []string
	for _, a := range d.cfg.Agencies {
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
	r := &catalog.Run{Op: "prune", Agency: agency, DRC: site.Name, Reason: reason}
	return submission{run: r, prio: prio, key: "prune/" + catalog.RepoKey(site.Name, agency),
		exec: func(ctx context.Context, j *queue.Job) error { return d.prune(ctx, j, site) }}
}

func (d *Daemon) checkSubmission(site *drc.Site, agency, subset, reason string, prio int) submission {
	r := &catalog.Run{Op: "check", Agency: agency, DRC: site.Name, Reason: reason}
	return submission{run: r, prio: prio, key: "check/" + catalog.RepoKey(site.Name, agency),
		exec: func(ctx context.Context, j *queue.Job) error { return d.check(ctx, j, site, subset) }}
}

// openForMaintenance checks the DRC and whether the repository exists there yet.
func (d *Daemon) openForMaintenance(ctx context.Context, j *queue.Job, site *drc.Site) (*drc.Repo, bool, error) {
	j.SetProgress(func(p *Progress) { p.Phase = "checking drc" })
	if err := site.Check(ctx); err != nil {
		var missing *drc.MissingDirError
		if errors.As(err, &missing) {
			j.Run.Notes = append(j.Run.Notes, "no repository here yet")
			return nil, false, nil
		}
		return nil, false, err
	}
	repo := site.Repo(j.Run.Agency)
	ok, err := repo.Exists(ctx)
	if err == nil && !ok {
		j.Run.Notes = append(j.Run.Notes, "no repository here yet")
	}
	return repo, ok, err
}

func (d *Daemon) prune(ctx context.Context, j *queue.Job, site *drc.Site) error {
	r := j.Run
	repo, ok, err := d.openForMaintenance(ctx, j, site)
	if err != nil || !ok {
		return err
	}
	if site.Role == drc.RoleSecondary {
		return fmt.Errorf("drc %q is a secondary: restic never prunes it; replication removes there what the primary's prune removed", site.Name)
	}
	// Snapshots written at a secondary while the primary was down must be back
	// first: the primary's prune would not know what they need.
	if err := d.repl.PruneGate(r.Agency); err != nil {
		d.deferPrune(r.Agency)
		return fmt.Errorf("%w; it is queued again once they are", err)
	}
	j.SetProgress(func(p *Progress) { p.Phase = "prune" })
	var summary string
	err = d.leases.WithLocks(ctx, repo, func() (err error) {
		summary, err = repo.Prune(ctx)
		return err
	})
	if summary != "" {
		r.Notes = append(r.Notes, summary)
	}
	res := &catalog.OpResult{Run: r.ID, Time: d.now(), Status: catalog.Succeeded, Message: summary}
	if err != nil {
		res.Status, res.Message = catalog.Failed, oneline.Of(err.Error())
	}
	if cerr := d.cat.UpdateRepoState(site.Name, r.Agency, func(s *catalog.RepoState) { s.LastPrune = res }); cerr != nil {
		d.log.Error("catalog: cannot record the prune", "run", r.ID, "err", cerr)
	}
	if err == nil {
		// The secondaries see what the prune removed at once: their deletion grace
		// starts now.
		d.repl.Soon(r.Agency, fmt.Sprintf("after prune run %d", r.ID))
	}
	return err
}

func (d *Daemon) check(ctx context.Context, j *queue.Job, site *drc.Site, override string) error {
	r := j.Run
	repo, ok, err := d.openForMaintenance(ctx, j, site)
	if err != nil || !ok {
		return err
	}
	subset := override
	if subset == "" {
		subset = site.Maintenance.ReadDataSubset
	}
	parts, err := drc.ParseSubset(subset)
	if err != nil {
		return err
	}
	state, err := d.cat.RepoState(site.Name, r.Agency)
	if err != nil {
		return err
	}
	part := 0
	if parts > 0 {
		part = 1
		if override == "" && state.Parts == parts && state.NextPart >= 1 && state.NextPart <= parts {
			part = state.NextPart
		}
		r.Notes = append(r.Notes, fmt.Sprintf("read data part %d/%d", part, parts))
	} else {
		r.Notes = append(r.Notes, "structure only: no data read (read_data_subset is not set)")
	}
	j.SetProgress(func(p *Progress) { p.Phase = "check" })
	var sum *drc.CheckSummary
	err = d.leases.WithLocks(ctx, repo, func() (err error) {
		sum, err = repo.Check(ctx, part, parts)
		return err
	})
	if sum != nil {
		r.Manifest, _ = json.Marshal(sum)
	}
	res := &catalog.CheckResult{Run: r.ID, Time: d.now(), Status: catalog.Succeeded}
	if parts > 0 {
		res.Subset = fmt.Sprintf("%d/%d", part, parts)
	}
	if sum != nil {
		res.Errors, res.BrokenPacks = sum.NumErrors, sum.BrokenPacks
	}
	if err != nil {
		res.Status, res.Message = catalog.Failed, oneline.Of(err.Error())
	}
	// The part was read if restic got to the data (it ran, with or without findings):
	// the rotation moves on. A check that could not run reads the same part next time.
	ran := err == nil || sum != nil
	cerr := d.cat.UpdateRepoState(site.Name, r.Agency, func(s *catalog.RepoState) {
		s.LastCheck = res
		if ran && override == "" && parts > 0 {
			s.Parts, s.NextPart = parts, part%parts+1
		}
	})
	if cerr != nil {
		d.log.Error("catalog: cannot record the check", "run", r.ID, "err", cerr)
	}
	return err
}

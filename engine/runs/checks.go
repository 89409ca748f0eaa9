package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
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

// openForMaintenance checks the DRC and whether the repository exists there yet.
func (x *Runner) openForMaintenance(ctx context.Context, j *queue.Job, site *drc.Site) (*drc.Repo, bool, error) {
	j.SetProgress(func(p *api.Progress) { p.Phase = "checking drc" })
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

func (x *Runner) Prune(ctx context.Context, j *queue.Job, site *drc.Site) error {
	r := j.Run
	repo, ok, err := x.openForMaintenance(ctx, j, site)
	if err != nil || !ok {
		return err
	}
	if site.Role == drc.RoleSecondary {
		return fmt.Errorf("drc %q is a secondary: restic never prunes it; replication removes there what the primary's prune removed", site.Name)
	}
	// Snapshots written at a secondary while the primary was down must be back
	// first: the primary's prune would not know what they need.
	if err := x.repl.PruneGate(r.Agency); err != nil {
		x.hooks.DeferPrune(r.Agency)
		return fmt.Errorf("%w; it is queued again once they are", err)
	}
	j.SetProgress(func(p *api.Progress) { p.Phase = "prune" })
	var summary string
	err = x.leases.WithLocks(ctx, repo, func() (err error) {
		summary, err = repo.Prune(ctx)
		return err
	})
	if summary != "" {
		r.Notes = append(r.Notes, summary)
	}
	res := &catalog.OpResult{Run: r.ID, Time: x.now(), Status: catalog.Succeeded, Message: summary}
	if err != nil {
		res.Status, res.Message = catalog.Failed, oneline.Of(err.Error())
	}
	if cerr := x.cat.UpdateRepoState(site.Name, r.Agency, func(s *catalog.RepoState) { s.LastPrune = res }); cerr != nil {
		x.log.Error("catalog: cannot record the prune", "run", r.ID, "err", cerr)
	}
	if err == nil {
		// The secondaries see what the prune removed at once: their deletion grace
		// starts now.
		x.repl.Soon(r.Agency, fmt.Sprintf("after prune run %d", r.ID))
	}
	return err
}

func (x *Runner) Check(ctx context.Context, j *queue.Job, site *drc.Site, override string) error {
	r := j.Run
	repo, ok, err := x.openForMaintenance(ctx, j, site)
	if err != nil || !ok {
		return err
	}
	parts, err := site.Maintenance.Parts()
	if override != "" {
		parts, err = drc.ParseSubset(override)
	}
	if err != nil {
		return err
	}
	state, err := x.cat.RepoState(site.Name, r.Agency)
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
		r.Notes = append(r.Notes, "structure only: no data read (no check schedule to spread a rotation over, or read_data_subset 0%)")
	}
	j.SetProgress(func(p *api.Progress) { p.Phase = "check" })
	var sum *drc.CheckSummary
	err = x.leases.WithLocks(ctx, repo, func() (err error) {
		sum, err = repo.Check(ctx, part, parts)
		return err
	})
	x.recordStall(err, r.Agency, r.ID)
	if sum != nil {
		r.Manifest, _ = json.Marshal(sum)
	}
	res := &catalog.CheckResult{Run: r.ID, Time: x.now(), Status: catalog.Succeeded}
	if parts > 0 {
		res.Subset = fmt.Sprintf("%d/%d", part, parts)
	}
	if sum != nil {
		res.Errors, res.BrokenPacks = sum.NumErrors, sum.BrokenPacks
		// The packs restic read and found damaged are damage like any other: recorded,
		// alarmed and repaired from the other DRC (docs/integrity.md).
		for _, id := range sum.BrokenPacks {
			if len(id) == 64 {
				x.recordDamage(site.Name, r.Agency, "data/"+id[:2]+"/"+id, "check", r.ID, "restic check --read-data: the pack is damaged")
			}
		}
	}
	if err != nil {
		res.Status, res.Message = catalog.Failed, oneline.Of(err.Error())
	}
	// The part was read if restic got to the data (it ran, with or without findings):
	// the rotation moves on. A check that could not run reads the same part next time.
	ran := err == nil || sum != nil
	cerr := x.cat.UpdateRepoState(site.Name, r.Agency, func(s *catalog.RepoState) {
		s.LastCheck = res
		if ran && override == "" && parts > 0 {
			s.Parts, s.NextPart = parts, part%parts+1
		}
	})
	if cerr != nil {
		x.log.Error("catalog: cannot record the check", "run", r.ID, "err", cerr)
	}
	return err
}

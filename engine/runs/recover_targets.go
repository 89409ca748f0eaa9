package runs

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/targets"
)

// targetRecoveryTimeout bounds the start-up clean-up of all targets together (a
// hypervisor that does not answer must not keep the daemon from serving).
const targetRecoveryTimeout = 2 * time.Minute

// RecoverTargets lets every target whose kind is a targets.Recoverer clear what
// backups of a dead daemon left outside the repository (a VM's backup job, its
// checkpoint, its scratch image). The targets are recovered side by side; it returns
// when all are done, or after targetRecoveryTimeout.
func (x *Runner) RecoverTargets(ts map[string]*Target) {
	ctx, cancel := context.WithTimeout(context.Background(), targetRecoveryTimeout)
	defer cancel()
	names := make([]string, 0, len(ts))
	for name := range ts {
		names = append(names, name)
	}
	sort.Strings(names)
	var wg sync.WaitGroup
	for _, name := range names {
		rc, ok := ts[name].Impl.(targets.Recoverer)
		if !ok {
			continue
		}
		log := x.log.With("target", name)
		wg.Go(func() {
			if err := rc.Recover(ctx, log); err != nil {
				log.Error("cleaning up after a stopped daemon failed", "err", err)
			}
		})
	}
	wg.Wait()
}

// RecoverRepo is the recovery run of a repository that runs of a dead daemon used: it
// clears the restic locks they left (engine/lease), then settles the snapshots their
// restic finished after the daemon had stopped.
func (x *Runner) RecoverRepo(ctx context.Context, j *queue.Job, site *drc.Site, agency string) error {
	if err := x.leases.Recover(ctx, j, site, agency); err != nil {
		return err
	}
	return x.SettleInterrupted(ctx, j, site, agency)
}

// SettleInterrupted applies the rule for a snapshot that a run which did not end
// wrote anyway (restic finished between the daemon's death and the run's record, or
// ran on after it): a run that did not end never makes a good snapshot. Such a
// snapshot is tagged status=bad in the repository and recorded as bad, with its run,
// in the catalog; the run records the snapshot and why it is bad. So `snapshots` and
// `runs` say the same, and no backup builds on it (incremental backups build on good
// snapshots only): the next one is made from the source again.
func (x *Runner) SettleInterrupted(ctx context.Context, j *queue.Job, site *drc.Site, agency string) error {
	repo := site.Repo(agency)
	snaps, err := repo.Snapshots(ctx, "agency="+agency)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		run := x.unendedRunOf(s)
		if run == nil {
			continue
		}
		j.SetProgress(func(p *api.Progress) { p.Phase = "recording snapshots of interrupted runs" })
		id := s.ID
		newID, err := x.TagNotGood(ctx, repo, s.ID, catalog.SnapshotBad)
		if err == nil {
			id = newID
		} else {
			x.log.Warn("snapshot of an interrupted run not tagged in the repository; recorded in the catalog", "snapshot", s.ID, "err", err)
		}
		if id != s.ID {
			// A replication pass may have learned the old id as good.
			if err := x.cat.DeleteSnapshot(s.ID); err != nil {
				return fmt.Errorf("catalog: %w", err)
			}
		}
		rec := &catalog.Snapshot{ID: id, Target: s.Tag("target"), Agency: agency, Kind: s.Tag("kind"), Time: s.Time,
			RunID: run.ID, Status: catalog.SnapshotBad, DRC: site.Name, Sites: map[string]time.Time{site.Name: x.now()}}
		if s.Summary != nil {
			rec.Bytes = s.Summary.TotalBytesProcessed
		}
		if err := x.cat.MergeSnapshot(rec, true); err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		why := fmt.Sprintf("snapshot %.8s was completed by restic after the daemon stopped: recorded as bad (a run that did not end never makes a good snapshot)", id)
		run.SnapshotID = id
		run.Notes = append(run.Notes, why)
		if err := x.cat.UpdateRun(run); err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		j.Run.Notes = append(j.Run.Notes, fmt.Sprintf("run %d: %s", run.ID, why))
		x.log.Warn("snapshot of an interrupted run recorded as bad", "snapshot", id, "run", run.ID, "target", rec.Target)
	}
	return nil
}

// unendedRunOf returns the run that wrote s if that run did not end (the daemon
// stopped in it) and s is not yet recorded as not good; else nil.
func (x *Runner) unendedRunOf(s drc.Snapshot) *catalog.Run {
	if s.Tag(tagStatusKey) != "" {
		return nil
	}
	id, err := strconv.ParseUint(s.Tag("run"), 10, 64)
	if err != nil {
		return nil
	}
	if rec, err := x.cat.Snapshot(s.ID); err == nil && rec.Status != catalog.SnapshotGood {
		return nil
	}
	run, err := x.cat.Run(id)
	if err != nil || run.Status != catalog.Interrupted || run.Op != "backup" {
		return nil
	}
	return run
}

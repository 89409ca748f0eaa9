package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/internal/oneline"
)

// Where work goes when a DRC is down.
//
// A backup goes to the primary. When the primary does not answer (an outage: the
// network, the server, a mount; not a wrong secret or a missing bucket, which are
// mistakes to fix), it goes to the first secondary that answers, and the run and the
// snapshot record say so. When the primary is back, replication brings the snapshot
// back to it (drc.Mirror). A secondary that never held the agency's repository is not
// used if the primary did: a new, different repository there would never converge.
//
// A restore without --drc reads from the primary, or from the first secondary that
// answers if the primary does not.

// backupSite chooses the DRC a backup writes to; note says why it is not the primary.
func (d *Daemon) backupSite(ctx context.Context, agency string) (site *drc.Site, note string, err error) {
	prim := d.primary()
	perr := prim.Check(ctx)
	if perr == nil || !drc.IsUnreachable(perr) || len(d.sites) == 1 {
		return prim, "", nil // prepareRepo reports any problem of the primary
	}
	d.repl.setHealth(drc.Health{DRC: prim.Name, Error: perr.Error(), Checked: d.now()})
	var tried []string
	for _, s := range d.secondaries() {
		err := s.Check(ctx)
		var missing *drc.MissingDirError
		if err != nil && !errors.As(err, &missing) {
			tried = append(tried, err.Error())
			continue
		}
		exists, err := s.Repo(agency).Exists(ctx)
		if err != nil {
			tried = append(tried, err.Error())
			continue
		}
		if !exists && prim.HasKey(agency) {
			tried = append(tried, fmt.Sprintf("drc %q has no repository for agency %q yet", s.Name, agency))
			continue
		}
		return s, fmt.Sprintf("primary unreachable (%s): backed up to drc %q instead; the snapshot goes to drc %q when it is back",
			oneline.Of(perr.Error()), s.Name, prim.Name), nil
	}
	if len(tried) > 0 {
		return nil, "", fmt.Errorf("%v; no secondary can take the backup: %s", perr, oneline.Of(fmt.Sprint(tried)))
	}
	return nil, "", perr
}

// restoreSite is the DRC a restore reads from: the one asked for, or the primary, or,
// when the primary does not answer and none was asked for, the first secondary that
// answers.
func (d *Daemon) restoreSite(ctx context.Context, j *queue.Job, site *drc.Site, chosen bool) (*drc.Site, error) {
	err := site.Check(ctx)
	if err == nil || chosen || site != d.primary() || !drc.IsUnreachable(err) {
		return site, err
	}
	for _, s := range d.secondaries() {
		if s.Check(ctx) == nil {
			j.Run.DRC = s.Name
			j.Run.Notes = append(j.Run.Notes, fmt.Sprintf("primary unreachable (%s): restored from drc %q", oneline.Of(err.Error()), s.Name))
			j.Publish()
			return s, nil
		}
	}
	return nil, err
}

// ledgerSnapshots lists a target's snapshots at every DRC: the ledger (when each
// became restorable where), checked against the primary's repository when it answers.
func (d *Daemon) ledgerSnapshots(ctx context.Context, t *target) ([]SnapshotInfo, error) {
	recs, err := d.cat.Snapshots(t.cfg.Name)
	if err != nil {
		return nil, err
	}
	byID := map[string]*SnapshotInfo{}
	var out []*SnapshotInfo
	for _, rec := range recs {
		info := &SnapshotInfo{ID: rec.ID, ShortID: rec.ID[:min(8, len(rec.ID))], Target: rec.Target, Agency: rec.Agency, DRC: rec.DRC,
			Time: rec.Time, Status: rec.Status, Run: rec.RunID, Bytes: rec.Bytes, Paths: []string{}, Sites: map[string]time.Time{}}
		for k, v := range rec.Sites {
			info.Sites[k] = v
		}
		byID[rec.ID] = info
		out = append(out, info)
	}
	prim := d.primary()
	cctx, cancel := context.WithTimeout(ctx, drc.CheckTimeout)
	defer cancel()
	if prim.Check(cctx) == nil {
		snaps, err := prim.Repo(t.cfg.Agency).Snapshots(ctx, "target="+t.cfg.Name)
		if err == nil || errors.Is(err, drc.ErrNoRepository) {
			listed := map[string]bool{}
			for _, s := range snaps {
				listed[s.ID] = true
				info := byID[s.ID]
				if info == nil {
					status, _ := d.snapshotStatus(s)
					info = &SnapshotInfo{ID: s.ID, ShortID: s.ShortID, Target: t.cfg.Name, Agency: t.cfg.Agency, DRC: prim.Name,
						Time: s.Time, Status: status, Sites: map[string]time.Time{}}
					if s.Summary != nil {
						info.Bytes = s.Summary.TotalBytesProcessed
					}
					byID[s.ID] = info
					out = append(out, info)
				}
				info.Paths = s.Paths
				if _, ok := info.Sites[prim.Name]; !ok {
					info.Sites[prim.Name] = s.Time
				}
			}
			for _, info := range out {
				if !listed[info.ID] {
					delete(info.Sites, prim.Name)
				}
			}
		}
	}
	// When a snapshot goes from a secondary after a deletion at the primary.
	for _, s := range d.secondaries() {
		pending, err := d.cat.PendingDeletions(s.Name, t.cfg.Agency)
		if err != nil {
			continue
		}
		after := s.Replication.Effective().DeleteAfter
		for _, info := range out {
			if first, ok := pending["snapshots/"+info.ID]; ok {
				if info.DeleteAt == nil {
					info.DeleteAt = map[string]time.Time{}
				}
				info.DeleteAt[s.Name] = first.Add(after)
			}
		}
	}
	res := make([]SnapshotInfo, 0, len(out))
	for _, info := range out {
		for _, s := range d.sites {
			if _, ok := info.Sites[s.Name]; !ok {
				info.Missing = append(info.Missing, s.Name)
			}
		}
		if len(info.Sites) > 0 {
			res = append(res, *info)
		}
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Time.Before(res[j].Time) })
	return res, nil
}

// PruneGate says whether a prune of agency's repository at the primary may run now:
// not while a secondary holds snapshots the primary has never had (written there
// while the primary was down, not brought back yet). Until they are back, restic's
// prune at the primary would not know that they need some packs, and could delete
// packs that those snapshots, once brought back, would need there. The prune path
// (retention) calls this before `restic forget --prune`; with it, prune never deletes
// an object that a snapshot at any DRC needs:
//   - at the primary, restic's prune keeps what the primary's snapshots need, and every
//     snapshot at any DRC is at the primary (this gate);
//   - at a secondary, nothing is ever pruned by restic: the mirror deletes only what
//     the primary no longer has, after delete_after, and never what a snapshot still at
//     the secondary needs (drc.Mirror).
//
// After a prune, the caller should ask for a replication pass (d.repl.trigger) so that
// the deletion grace starts at once.
func (d *Daemon) PruneGate(agency string) error {
	recs, err := d.cat.AgencySnapshots(agency)
	if err != nil {
		return err
	}
	prim := d.primary().Name
	seen, err := d.cat.SeenSnapshots(prim, agency)
	if err != nil {
		return err
	}
	var waiting []string
	for _, s := range recs {
		if _, atP := s.Sites[prim]; !atP && len(s.Sites) > 0 && seen[s.ID].IsZero() {
			waiting = append(waiting, s.ID[:8])
		}
	}
	if len(waiting) > 0 {
		return fmt.Errorf("agency %q: %d snapshot(s) written at a secondary are not back at drc %q yet (%v): prune waits for replication",
			agency, len(waiting), prim, waiting)
	}
	return nil
}

// deferPrune remembers that agency's prune at the primary waits for PruneGate.
func (d *Daemon) deferPrune(agency string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.deferredPrunes == nil {
		d.deferredPrunes = map[string]bool{}
	}
	d.deferredPrunes[agency] = true
}

// retryDeferredPrune queues agency's prune at the primary again if PruneGate refused it
// and now lets it run (a replication pass has brought the secondary's snapshots back).
// It reports whether it queued one. The deferral lives in memory only: after a restart
// the next scheduled prune is the retry.
func (d *Daemon) retryDeferredPrune(agency string) bool {
	d.mu.Lock()
	waiting := d.deferredPrunes[agency]
	d.mu.Unlock()
	if !waiting || d.PruneGate(agency) != nil {
		return false
	}
	sub := d.pruneSubmission(d.primary(), agency, reasonDeferred, queue.PriorityScheduled)
	if _, err := d.submitAll([]submission{sub}, nil); err != nil {
		if !errors.Is(err, errShuttingDown) {
			d.log.Error("cannot queue the deferred prune", "agency", agency, "err", err)
		}
		return false
	}
	d.mu.Lock()
	delete(d.deferredPrunes, agency)
	d.mu.Unlock()
	d.log.Info("prune queued again: the snapshots written at a secondary are back at the primary", "agency", agency)
	return true
}

// NeededAnywhere returns the pack files (data/xx/<id>) that the snapshots of agency
// at any reachable DRC need, for a prune path that wants to check its plan against
// every DRC. A DRC that cannot be read is an error: "needed" must not be guessed.
func (d *Daemon) NeededAnywhere(ctx context.Context, agency string) (map[string]bool, error) {
	var repos []*drc.Repo
	for _, s := range d.sites {
		repos = append(repos, s.Repo(agency))
	}
	return d.repl.contentsFor(agency).NeededPacks(ctx, repos...)
}

// snapshotRecorded is called by a backup run once its snapshot is recorded.
func (d *Daemon) snapshotRecorded(r *catalog.Run) {
	if err := d.cat.MarkSeen(r.DRC, r.Agency, []string{r.SnapshotID}, d.now()); err != nil {
		d.log.Error("catalog", "err", err)
	}
	d.repl.afterBackup(r)
}

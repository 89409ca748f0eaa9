package engine

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/replication"
	"github.com/cadang/cadang/engine/runs"
)

// ledgerSnapshots lists a target's snapshots at every DRC: the ledger (when each
// became restorable where), checked against the primary's repository when it answers.
func (v service) ledgerSnapshots(ctx context.Context, t *target) ([]SnapshotInfo, error) {
	cf := v.d.conf()
	recs, err := v.d.cat.Snapshots(t.Cfg.Name)
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
		for k, v := range rec.Damaged {
			if info.Damaged == nil {
				info.Damaged = map[string]string{}
			}
			info.Damaged[k] = v
		}
		byID[rec.ID] = info
		out = append(out, info)
	}
	prim := v.d.sites.primary()
	cctx, cancel := context.WithTimeout(ctx, drc.CheckTimeout)
	defer cancel()
	if prim.Check(cctx) == nil {
		snaps, err := prim.Repo(t.Cfg.Agency).Snapshots(ctx, "target="+t.Cfg.Name)
		if err == nil || errors.Is(err, drc.ErrNoRepository) {
			listed := map[string]bool{}
			for _, s := range snaps {
				listed[s.ID] = true
				info := byID[s.ID]
				if info == nil {
					status, _ := cf.runs.SnapshotStatus(s)
					info = &SnapshotInfo{ID: s.ID, ShortID: s.ShortID, Target: t.Cfg.Name, Agency: t.Cfg.Agency, DRC: prim.Name,
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
	for _, s := range v.d.repl.Secondaries() {
		pending, err := v.d.cat.PendingDeletions(s.Name, t.Cfg.Agency)
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
		for _, s := range v.d.sites {
			at, ok := info.Sites[s.Name]
			if !ok {
				info.Missing = append(info.Missing, s.Name)
				continue
			}
			// At a secondary, the mirror locks what it writes; at a primary, restic's
			// own writes are not locked (docs/ransomware.md).
			if im := s.Immutability; im != nil && s.Role != drc.RolePrimary {
				if info.Immutable == nil {
					info.Immutable = map[string]time.Time{}
				}
				info.Immutable[s.Name] = at.Add(im.Retain + s.Replication.Effective().DeleteAfter)
			}
		}
		if len(info.Sites) > 0 {
			res = append(res, *info)
		}
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Time.Before(res[j].Time) })
	return res, nil
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
	if !waiting || d.repl.PruneGate(agency) != nil {
		return false
	}
	sub := d.pruneSubmission(d.sites.primary(), agency, reasonDeferred, queue.PriorityScheduled)
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

// replHost is the daemon as the replicator sees it (replication.Host).
type replHost struct{ d *Daemon }

var _ replication.Host = replHost{}

func (h replHost) Submit(r *catalog.Run, prio int, exec func(context.Context, *queue.Job) error) (catalog.Run, error) {
	return h.d.submit(r, prio, exec)
}

func (h replHost) Job(id uint64) *queue.Job { return h.d.queue.Get(id) }

func (h replHost) PassDone(agency string) { h.d.retryDeferredPrune(agency) }

func (h replHost) DamageFound(drcName, agency string) { h.d.damageFound(drcName, agency) }

// runHooks is the daemon as a run sees it (runs.Hooks).
type runHooks struct{ d *Daemon }

var _ runs.Hooks = runHooks{}

func (h runHooks) DeferPrune(agency string)           { h.d.deferPrune(agency) }
func (h runHooks) DamageFound(drcName, agency string) { h.d.damageFound(drcName, agency) }

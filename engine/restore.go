package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/redact"
	"github.com/cadang/cadang/targets"
)

// Restore queues a restore.
func (d *Daemon) Restore(req RestoreRequest) (catalog.Run, error) {
	return d.restore(req, "on-demand")
}

// checkRestore refuses, before anything is queued, a restore that cannot succeed as
// asked, and returns its target and DRC.
func (d *Daemon) checkRestore(req RestoreRequest) (*target, *drc.Site, error) {
	cf := d.conf()
	t, ok := cf.targets[req.Target]
	if !ok {
		return nil, nil, d.unknownTarget(req.Target)
	}
	if req.To == "" {
		return nil, nil, errors.New("restore needs a destination (--to)")
	}
	site, err := d.sites.site(req.DRC)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := t.Impl.(targets.PartRestorer); len(req.Include) > 0 && !ok {
		return nil, nil, fmt.Errorf("target %q: a %s target restores whole snapshots: --include is for files targets", req.Target, t.Cfg.Kind)
	}
	if c, ok := t.Impl.(targets.RestoreChecker); ok {
		if err := c.CheckRestore(targets.RestoreRequest{To: req.To, Force: req.Force, Options: req.Options, Include: req.Include}); err != nil {
			return nil, nil, fmt.Errorf("target %q: %w", req.Target, redact.Error(err, redact.Secrets(req.To)))
		}
	}
	return t, site, nil
}

// restore queues a restore, for the reason given.
func (d *Daemon) restore(req RestoreRequest, reason string) (catalog.Run, error) {
	cf := d.conf()
	t, site, err := d.checkRestore(req)
	if err != nil {
		return catalog.Run{}, err
	}
	r := &catalog.Run{Op: "restore", Target: req.Target, Agency: t.Cfg.Agency, Kind: t.Cfg.Kind,
		DRC: site.Name, Reason: reason, Destination: redact.URL(req.To)}
	secrets := redact.Secrets(req.To)
	return d.submit(r, queue.PriorityOnDemand, func(ctx context.Context, j *queue.Job) error {
		err := cf.runs.Restore(ctx, j, t, site, req)
		scrubRun(j.Run, secrets)
		return redact.Error(err, secrets)
	})
}

// snapshots lists a target's snapshots, oldest first: at every DRC from the ledger
// (drcName ""), or as the repository at one DRC holds them, with what the catalog
// knows of each.
func (v service) snapshots(ctx context.Context, target, drcName string) ([]SnapshotInfo, error) {
	cf := v.d.conf()
	t, ok := cf.targets[target]
	if !ok {
		return nil, v.d.unknownTarget(target)
	}
	if drcName == "" {
		return v.ledgerSnapshots(ctx, t) // ledger.go
	}
	site, err := v.d.sites.site(drcName)
	if err != nil {
		return nil, err
	}
	if err := site.Check(ctx); err != nil {
		return nil, err
	}
	snaps, err := site.Repo(t.Cfg.Agency).Snapshots(ctx, "target="+target)
	if errors.Is(err, drc.ErrNoRepository) {
		return []SnapshotInfo{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]SnapshotInfo, 0, len(snaps))
	for _, s := range snaps {
		status, rec := cf.runs.SnapshotStatus(s)
		info := SnapshotInfo{ID: s.ID, ShortID: s.ShortID, Target: target, Agency: t.Cfg.Agency, DRC: site.Name,
			Time: s.Time, Status: status, Paths: s.Paths}
		if s.Summary != nil {
			info.Bytes = s.Summary.TotalBytesProcessed
		}
		if rec != nil {
			info.Run, info.Sites = rec.RunID, rec.Sites
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

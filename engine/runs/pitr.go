package runs

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/postgres"
)

// A restore of a continuously protected PostgreSQL target without a snapshot id is a
// point-in-time restore: the newest good base backup taken before the time asked (or
// the newest of all, for an LSN or the latest state), the WAL snapshots stored since
// then restored into a folder beside the new data directory (DEST.wal), and the
// target's own restore (targets/postgres) recovers the base with that WAL up to the
// time, the LSN or the end of the archive.

// isPITR reports whether a restore request is a point-in-time restore of t.
func isPITR(t *Target, req api.RestoreRequest) bool {
	_, ok := postgres.IsContinuous(t.Cfg.Spec)
	return ok && (req.Snapshot == "" || req.Snapshot == "latest")
}

// restorePITR picks the base backup and the WAL, restores the WAL, and hands the base
// to the target.
func (x *Runner) restorePITR(ctx context.Context, j *queue.Job, t *Target, repo *drc.Repo, req api.RestoreRequest, rd *reader) error {
	r := j.Run
	var until time.Time
	if s := req.Options[postgres.OptToTime]; s != "" {
		var err error
		if until, err = postgres.ParseTime(s); err != nil {
			return err
		}
	}
	base, wal, err := x.baseAndWAL(ctx, repo, r.Target, until)
	if err != nil {
		return err
	}
	r.SnapshotID = base.ID
	r.Notes = append(r.Notes, fmt.Sprintf("point-in-time restore: base backup %s of %s and %d WAL snapshot(s)", base.ShortID,
		base.Time.Format(time.RFC3339), len(wal)))
	walDir := strings.TrimSuffix(req.To, "/") + ".wal"
	if err := x.restoreWAL(ctx, j, repo, wal, walDir, rd); err != nil {
		return err
	}
	opts := map[string]string{postgres.OptWALDir: walDir}
	for k, v := range req.Options {
		opts[k] = v
	}
	rd.snap = base
	j.SetProgress(func(p *api.Progress) { p.Phase = "restore" })
	return t.Impl.Restore(ctx, rd, targets.RestoreRequest{To: req.To, Force: req.Force, Options: opts})
}

// baseAndWAL returns the newest good base backup of target at repo taken before until
// (zero: the newest of all), and the good WAL snapshots taken since, oldest first.
func (x *Runner) baseAndWAL(ctx context.Context, repo *drc.Repo, target string, until time.Time) (drc.Snapshot, []drc.Snapshot, error) {
	snaps, err := repo.Snapshots(ctx, "target="+target)
	if err != nil {
		return drc.Snapshot{}, nil, err
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].Time.Before(snaps[j].Time) })
	var base *drc.Snapshot
	for i, s := range snaps {
		if st, _ := x.SnapshotStatus(s); st != catalog.SnapshotGood || s.Tag(strings.TrimSuffix(postgres.TagBase, "=1")) != "1" {
			continue
		}
		if until.IsZero() || s.Time.Before(until) {
			base = &snaps[i]
		}
	}
	if base == nil {
		if until.IsZero() {
			return drc.Snapshot{}, nil, fmt.Errorf("target %q has no good base backup at drc %q", target, repo.DRC)
		}
		return drc.Snapshot{}, nil, fmt.Errorf("target %q has no good base backup taken before %s at drc %q", target, until.Format(time.RFC3339), repo.DRC)
	}
	var wal []drc.Snapshot
	for _, s := range snaps {
		if st, _ := x.SnapshotStatus(s); st == catalog.SnapshotGood && s.Tag(postgres.TagWAL) != "" && !s.Time.Before(base.Time) {
			wal = append(wal, s)
		}
	}
	return *base, wal, nil
}

// restoreWAL restores WAL snapshots into dir.
func (x *Runner) restoreWAL(ctx context.Context, j *queue.Job, repo *drc.Repo, wal []drc.Snapshot, dir string, rd *reader) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i, s := range wal {
		j.SetProgress(func(p *api.Progress) { p.Phase = fmt.Sprintf("restoring WAL %d/%d", i+1, len(wal)) })
		if _, err := repo.Restore(ctx, s.ID, dir, nil, nil); err != nil {
			rd.noteStall(err)
			return fmt.Errorf("WAL snapshot %s: %w", s.ShortID, err)
		}
	}
	return nil
}

// drillWAL is the WAL archive a drill of a continuous target restores (targets.WALArchive).
type drillWAL struct {
	x        *Runner
	j        *queue.Job
	repo     *drc.Repo
	target   string
	base     drc.Snapshot
	interval time.Duration // the target's archive interval
	rd       func() *reader
}

// RestoreWAL waits for a good WAL snapshot at the DRC whose range reaches last (the
// archive stores a batch every interval; a secondary has it once replicated), then
// restores every WAL snapshot taken since the base backup.
func (w *drillWAL) RestoreWAL(ctx context.Context, last, dir string) (int, error) {
	limit := 2*w.interval + 10*time.Minute
	deadline := w.x.now().Add(limit)
	for {
		snaps, err := w.repo.Snapshots(ctx, "target="+w.target)
		if err != nil {
			return 0, err
		}
		sort.Slice(snaps, func(i, j int) bool { return snaps[i].Time.Before(snaps[j].Time) })
		var wal []drc.Snapshot
		reached := false
		for _, s := range snaps {
			rng := s.Tag(postgres.TagWAL)
			if st, _ := w.x.SnapshotStatus(s); st != catalog.SnapshotGood || rng == "" || s.Time.Before(w.base.Time) {
				continue
			}
			wal = append(wal, s)
			if _, end, ok := strings.Cut(rng, "-"); ok && len(end) == len(last) && end >= last {
				reached = true
			}
		}
		if reached {
			return len(wal), w.x.restoreWAL(ctx, w.j, w.repo, wal, dir, w.rd())
		}
		if !w.x.now().Before(deadline) {
			return 0, msg.Fail("pitr.wal.timeout", "segment", last, "drc", w.repo.DRC, "limit", limit, "interval", w.interval)
		}
		w.j.SetProgress(func(p *api.Progress) { p.Phase = "waiting for the WAL up to " + last })
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

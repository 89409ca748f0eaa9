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
	snaps, err := repo.Snapshots(ctx, "target="+r.Target)
	if err != nil {
		return err
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
			return fmt.Errorf("target %q has no good base backup at drc %q", r.Target, repo.DRC)
		}
		return fmt.Errorf("target %q has no good base backup taken before %s at drc %q", r.Target, until.Format(time.RFC3339), repo.DRC)
	}
	var wal []drc.Snapshot
	for _, s := range snaps {
		if st, _ := x.SnapshotStatus(s); st == catalog.SnapshotGood && s.Tag(postgres.TagWAL) != "" && !s.Time.Before(base.Time) {
			wal = append(wal, s)
		}
	}
	r.SnapshotID = base.ID
	r.Notes = append(r.Notes, fmt.Sprintf("point-in-time restore: base backup %s of %s and %d WAL snapshot(s)", base.ShortID,
		base.Time.Format(time.RFC3339), len(wal)))
	walDir := strings.TrimSuffix(req.To, "/") + ".wal"
	if err := os.MkdirAll(walDir, 0o700); err != nil {
		return err
	}
	for i, s := range wal {
		j.SetProgress(func(p *api.Progress) { p.Phase = fmt.Sprintf("restoring WAL %d/%d", i+1, len(wal)) })
		if _, err := repo.Restore(ctx, s.ID, walDir, nil, nil); err != nil {
			rd.noteStall(err)
			return fmt.Errorf("WAL snapshot %s: %w", s.ShortID, err)
		}
	}
	opts := map[string]string{postgres.OptWALDir: walDir}
	for k, v := range req.Options {
		opts[k] = v
	}
	rd.snap = *base
	j.SetProgress(func(p *api.Progress) { p.Phase = "restore" })
	return t.Impl.Restore(ctx, rd, targets.RestoreRequest{To: req.To, Force: req.Force, Options: opts})
}

package runs

import (
	"context"
	"errors"
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
	"github.com/cadang/cadang/targets/mysql"
	"github.com/cadang/cadang/targets/postgres"
)

// A restore of a continuously protected PostgreSQL target without a snapshot id is a
// point-in-time restore: the newest good base backup taken before the time asked (or
// the newest of all, for an LSN or the latest state), the WAL snapshots stored since
// then restored into a folder beside the new data directory (DEST.wal), and the
// target's own restore (targets/postgres) recovers the base with that WAL up to the
// time, the LSN or the end of the archive.

// logKind is what the engine knows of the log a continuous target archives (WAL,
// binlog): which snapshots are the bases a restore starts from, which are batches of
// log files, how far a batch reaches, and which batches a restore from a base needs.
// Restores to a time and drills of both kinds pick and wait for batches through it.
type logKind struct {
	noun   string // "WAL", "binlog": in progress phases and errors
	base   string // what a base is called in errors
	isBase func(s drc.Snapshot) bool
	// chosen is the msg key of a drill's snapshot step: {id} and {age} of the base,
	// {walage} of the newest batch.
	chosen string
	tag    string // the tag of a batch
	// end is the last file of a batch ("" when its tag names none).
	end func(s drc.Snapshot) string
	// reaches reports whether a batch ending at file end holds the file want.
	reaches func(end, want string) bool
	// needed reports whether a restore from base needs the batch s.
	needed func(s, base drc.Snapshot) bool
	// timeout is the error of a drill that waited past limit for the file last.
	timeout func(last, drc string, limit, interval time.Duration) error
}

// walLog is PostgreSQL's WAL: base backups (pg_base=1) and batches tagged
// wal=FIRST-LAST, segment names of one width that order as strings; a restore needs
// the batches stored since its base backup.
var walLog = logKind{
	noun: "WAL", base: "base backup", chosen: "drill.snapshot.base",
	isBase: func(s drc.Snapshot) bool { return s.Tag(strings.TrimSuffix(postgres.TagBase, "=1")) == "1" },
	tag:    postgres.TagWAL,
	end: func(s drc.Snapshot) string {
		_, end, _ := strings.Cut(s.Tag(postgres.TagWAL), "-")
		return end
	},
	reaches: func(end, want string) bool { return len(end) == len(want) && end >= want },
	needed:  func(s, base drc.Snapshot) bool { return !s.Time.Before(base.Time) },
	timeout: func(last, drc string, limit, interval time.Duration) error {
		return msg.Fail("pitr.wal.timeout", "segment", last, "drc", drc, "limit", limit, "interval", interval)
	},
}

// binlogLog is MariaDB's binary log: dumps taken in mode: continuous (binlog_from=FILE)
// and batches tagged binlog=FIRST-LAST; a restore needs the batches from the file
// current when its dump started (a batch stored during the dump may hold it).
var binlogLog = logKind{
	noun: "binlog", base: "dump taken in mode: continuous", chosen: "drill.snapshot.dump",
	isBase: func(s drc.Snapshot) bool { return mysql.ValidBinlogName(s.Tag(mysql.TagBinlogFrom)) },
	tag:    mysql.TagBinlog,
	end: func(s drc.Snapshot) string {
		_, last, _ := binlogRange(s)
		return last
	},
	reaches: func(end, want string) bool { return mysql.ValidBinlogName(end) && !mysql.BinlogLess(end, want) },
	needed: func(s, base drc.Snapshot) bool {
		_, last, ok := binlogRange(s)
		return ok && !mysql.BinlogLess(last, base.Tag(mysql.TagBinlogFrom))
	},
	timeout: func(last, drc string, limit, interval time.Duration) error {
		return msg.Fail("pitr.binlog.timeout", "file", last, "drc", drc, "limit", limit, "interval", interval)
	},
}

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
	base, wal, err := x.baseAndLog(ctx, repo, r.Target, until, walLog)
	if err != nil {
		return err
	}
	r.SnapshotID = base.ID
	r.Notes = append(r.Notes, fmt.Sprintf("point-in-time restore: base backup %s of %s and %d WAL snapshot(s)", base.ShortID,
		base.Time.Format(time.RFC3339), len(wal)))
	walDir := strings.TrimSuffix(req.To, "/") + ".wal"
	if err := x.restoreLog(ctx, j, repo, walLog, wal, walDir, rd); err != nil {
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

// baseAndLog returns the newest good base of target at repo (a base backup, a dump)
// taken before until (zero: the newest of all), and the good log batches a restore
// from it needs, oldest first.
func (x *Runner) baseAndLog(ctx context.Context, repo *drc.Repo, target string, until time.Time, k logKind) (drc.Snapshot, []drc.Snapshot, error) {
	snaps, err := repo.Snapshots(ctx, "target="+target)
	if err != nil {
		return drc.Snapshot{}, nil, err
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].Time.Before(snaps[j].Time) })
	var base *drc.Snapshot
	for i, s := range snaps {
		if st, _ := x.SnapshotStatus(s); st != catalog.SnapshotGood || !k.isBase(s) {
			continue
		}
		if until.IsZero() || s.Time.Before(until) {
			base = &snaps[i]
		}
	}
	if base == nil {
		if until.IsZero() {
			return drc.Snapshot{}, nil, fmt.Errorf("target %q has no good %s at drc %q", target, k.base, repo.DRC)
		}
		return drc.Snapshot{}, nil, fmt.Errorf("target %q has no good %s before %s at drc %q", target, k.base, until.Format(time.RFC3339), repo.DRC)
	}
	batches, _ := logBatches(snaps, k, *base, "", x.good)
	return *base, batches, nil
}

// good reports whether a snapshot is good (SnapshotStatus).
func (x *Runner) good(s drc.Snapshot) bool {
	st, _ := x.SnapshotStatus(s)
	return st == catalog.SnapshotGood
}

// logBatches returns the good batches of snaps (oldest first) that a restore from base
// needs, and whether one of them reaches the file want.
func logBatches(snaps []drc.Snapshot, k logKind, base drc.Snapshot, want string, good func(drc.Snapshot) bool) ([]drc.Snapshot, bool) {
	var batches []drc.Snapshot
	reached := false
	for _, s := range snaps {
		if s.Tag(k.tag) == "" || !k.needed(s, base) || !good(s) {
			continue
		}
		batches = append(batches, s)
		if end := k.end(s); want != "" && end != "" && k.reaches(end, want) {
			reached = true
		}
	}
	return batches, reached
}

// restoreLog restores log batches into dir: read by cadang itself, all at once
// (mirror.Contents.RestoreFiles: the daemon's key and parsed index, instead of a
// restic process and about a second per batch), or, when that fails, by restic one
// batch after the other.
func (x *Runner) restoreLog(ctx context.Context, j *queue.Job, repo *drc.Repo, k logKind, batches []drc.Snapshot, dir string, rd *reader) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if len(batches) == 0 {
		return nil
	}
	if x.repl != nil {
		j.SetProgress(func(p *api.Progress) { p.Phase = fmt.Sprintf("restoring %s (%d snapshots)", k.noun, len(batches)) })
		ids := make([]string, len(batches))
		for i, s := range batches {
			ids[i] = s.ID
		}
		n, err := x.repl.ContentsFor(repo.Agency).RestoreFiles(ctx, repo, ids, dir)
		if err == nil {
			x.log.Info("log restored", "run", j.Run.ID, "drc", repo.DRC, "what", k.noun, "snapshots", len(ids), "files", n)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", k.noun, err)
		}
		if errors.Is(err, drc.ErrStalled) {
			// The store stopped sending an object for the stall timeout: restic would
			// wait on the same object as long again. Recorded (damage found by a stall,
			// repaired from the other DRC) and failed, as a stalled restic is.
			rd.noteStall(err)
			return fmt.Errorf("%s: %w", k.noun, err)
		}
		x.log.Warn("reading the log snapshots directly failed: restic restores them one by one", "run", j.Run.ID, "drc", repo.DRC, "err", err)
	}
	for i, s := range batches {
		j.SetProgress(func(p *api.Progress) { p.Phase = fmt.Sprintf("restoring %s %d/%d", k.noun, i+1, len(batches)) })
		if _, err := repo.Restore(ctx, s.ID, dir, nil, nil); err != nil {
			rd.noteStall(err)
			return fmt.Errorf("%s snapshot %s: %w", k.noun, s.ShortID, err)
		}
	}
	return nil
}

// drillWAL is the log archive a drill of a continuous target restores
// (targets.WALArchive): the WAL after a base backup, the binary log after a dump.
type drillWAL struct {
	x        *Runner
	j        *queue.Job
	repo     *drc.Repo
	target   string
	kind     logKind
	base     drc.Snapshot
	interval time.Duration // the target's archive interval
	rd       func() *reader
}

// RestoreWAL waits for a good log batch at the DRC whose range reaches last (the
// archive stores a batch every interval; a secondary has it once replicated), then
// restores every batch a restore from the base needs.
func (w *drillWAL) RestoreWAL(ctx context.Context, last, dir string) (int, error) {
	limit := 2*w.interval + 10*time.Minute
	deadline := w.x.now().Add(limit)
	for {
		snaps, err := w.repo.Snapshots(ctx, "target="+w.target)
		if err != nil {
			return 0, err
		}
		sort.Slice(snaps, func(i, j int) bool { return snaps[i].Time.Before(snaps[j].Time) })
		batches, reached := logBatches(snaps, w.kind, w.base, last, w.x.good)
		if reached {
			return len(batches), w.x.restoreLog(ctx, w.j, w.repo, w.kind, batches, dir, w.rd())
		}
		if !w.x.now().Before(deadline) {
			return 0, w.kind.timeout(last, w.repo.DRC, limit, w.interval)
		}
		w.j.SetProgress(func(p *api.Progress) { p.Phase = "waiting for the " + w.kind.noun + " up to " + last })
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

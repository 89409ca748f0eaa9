package runs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/internal/oneline"
	"github.com/cadang/cadang/targets"
)

// Snapshot tags cadang writes. Tags make a repository self-describing: if the catalog
// is lost, the repository still says which target, agency and run each snapshot is of,
// and which are not good.
const (
	tagCadang    = "cadang"
	tagStatusKey = catalog.StatusTag // status=partial or status=bad on snapshots that are not good
)

// Backup is one backup run:
//
//	DRC check, repository (created if missing), before-hooks, the target writes one
//	snapshot, after-hooks (always), then the snapshot and the run are recorded.
//
// A snapshot counts as good only if every step up to the snapshot succeeded. A partial
// snapshot (restic could not read some files) or one written by a run that failed
// afterwards is tagged status=partial or status=bad in the repository and recorded so.
func (x *Runner) Backup(ctx context.Context, j *queue.Job, t *Target) (err error) {
	r := j.Run
	j.SetProgress(func(p *api.Progress) { p.Phase = "checking drc" })
	site, note, err := x.repl.BackupSite(ctx, r.Agency) // engine/replication: the primary, or a secondary while it is down
	if err != nil {
		return err
	}
	r.DRC = site.Name
	if note != "" {
		r.Notes = append(r.Notes, note)
	}
	j.Publish()
	log := x.log.With("run", r.ID, "target", r.Target, "drc", site.Name)
	if note != "" {
		log.Warn("backup routed to a secondary", "why", note)
	}

	j.SetProgress(func(p *api.Progress) { p.Phase = "checking drc" })
	repo, err := x.prepareRepo(ctx, site, r.Agency)
	if err != nil {
		return err
	}
	defer x.repl.BackupStarted(r.Agency, site.Name)() // engine/replication: the off-site copy overlaps the backup

	w := &writer{x: x, j: j, repo: repo, log: log, tags: []string{
		tagCadang, "target=" + r.Target, "agency=" + r.Agency, "kind=" + r.Kind, fmt.Sprintf("run=%d", r.ID),
	}}
	defer w.cleanup()

	hookEnv := []string{
		"CADANG_RUN_ID=" + fmt.Sprint(r.ID), "CADANG_TARGET=" + r.Target,
		"CADANG_AGENCY=" + r.Agency, "CADANG_KIND=" + r.Kind, "CADANG_DRC=" + site.Name,
	}
	j.SetProgress(func(p *api.Progress) { p.Phase = "before-hooks" })
	err = t.Cfg.Hooks.RunBefore(ctx, hookEnv, log)
	var res *targets.BackupResult
	if err == nil {
		j.SetProgress(func(p *api.Progress) { p.Phase = "backup" })
		if x.remote(t) {
			res, err = x.remoteBackup(ctx, j, t, w)
		} else {
			res, err = t.Impl.Backup(ctx, w)
		}
		if err == nil && w.summary == nil {
			err = errors.New("the target wrote no snapshot")
		}
	}
	x.classify(ctx, r, w, res, err)
	if r.Status == catalog.Succeeded && w.summary != nil {
		// Never a good snapshot on top of known damage (restic deduplicated
		// against a pack found damaged since it was written).
		why, derr := x.buildsOnDamage(ctx, repo, w.summary.SnapshotID)
		if derr != nil {
			why = "cannot tell whether it needs a pack recorded damaged: " + derr.Error()
		}
		if why != "" {
			r.Status, r.Error = catalog.Failed, oneline.Of(why)
			x.hooks.DamageFound(repo.DRC, r.Agency)
		}
	}
	// The snapshot is recorded (and tagged if it is not good) before the after-hooks,
	// so that a daemon dying in a hook leaves no unrecorded snapshot behind.
	if w.summary != nil {
		if err := x.recordSnapshot(ctx, r, w); err != nil {
			log.Error("cannot record the snapshot", "snapshot", r.SnapshotID, "err", err)
			if r.Status == catalog.Succeeded {
				r.Status, r.Error = catalog.Failed, oneline.Of("recording the snapshot: "+err.Error())
			}
		} else {
			x.snapshotRecorded(r) // replication to the other DRCs (engine/replication)
		}
	}

	if w.remoteAck != nil {
		w.remoteAck()
	}

	if len(t.Cfg.Hooks.After) > 0 {
		j.SetProgress(func(p *api.Progress) { p.Phase = "after-hooks" })
		env := append(hookEnv, "CADANG_STATUS="+string(r.Status), "CADANG_SNAPSHOT="+r.SnapshotID, "CADANG_ERROR="+r.Error)
		if aerr := t.Cfg.Hooks.RunAfter(ctx, env, log); aerr != nil {
			// The snapshot is what it is; a failing after-hook is reported with the run.
			r.Notes = append(r.Notes, oneline.Of(aerr.Error()))
			log.Error("after-hook failed", "err", aerr)
		}
	}
	if r.Status == catalog.Succeeded || r.Status == catalog.Running {
		return nil
	}
	return errors.New(r.Error)
}

// classify sets the run's status, error and figures from what happened.
func (x *Runner) classify(ctx context.Context, r *catalog.Run, w *writer, res *targets.BackupResult, err error) {
	if res != nil {
		r.Manifest, r.Notes = res.Manifest, append(r.Notes, res.Notes...)
	}
	if s := w.summary; s != nil {
		r.SnapshotID = s.SnapshotID
		r.BytesProcessed, r.BytesAdded, r.BytesStored = s.TotalBytesProcessed, s.DataAdded, s.DataAddedPacked
		r.FilesProcessed, r.FilesNew, r.FilesChanged = s.TotalFilesProcessed, s.FilesNew, s.FilesChanged
	}
	switch {
	case err == nil:
		r.Status = catalog.Succeeded
	case ctx.Err() != nil || interrupted(err):
		r.Status = catalog.Interrupted
		if errors.Is(context.Cause(ctx), ErrCancelled) {
			r.Status = catalog.Cancelled
		}
		r.Error = oneline.Of(WithCause(context.Cause(ctx), err))
		if ctx.Err() == nil {
			r.Error = oneline.Of(err.Error())
		}
	case errors.Is(err, drc.ErrPartial) && w.summary != nil:
		r.Status, r.Error = catalog.Partial, oneline.Of(err.Error())
	default:
		r.Status, r.Error = catalog.Failed, oneline.Of(err.Error())
	}
}

// recordSnapshot tags a snapshot that is not good in the repository, then records it.
func (x *Runner) recordSnapshot(ctx context.Context, r *catalog.Run, w *writer) error {
	status := catalog.SnapshotGood
	switch r.Status {
	case catalog.Succeeded:
	case catalog.Partial:
		status = catalog.SnapshotPartial
	default:
		status = catalog.SnapshotBad
	}
	var tagErr error
	if status != catalog.SnapshotGood {
		// Tag even when the run was cancelled: a repository must never show a bad
		// snapshot as good. Tagging needs restic's exclusive lock, which another backup
		// of the agency may hold: the snapshot is then recorded in the catalog with its
		// status all the same (the catalog is read first), and the next retention run,
		// which holds the repository alone, tags it.
		newID, err := x.TagNotGood(ctx, w.repo, r.SnapshotID, status)
		if err != nil {
			tagErr = err
			r.Notes = append(r.Notes, oneline.Of("snapshot recorded as "+status+" in the catalog; tagging it in the repository failed: "+err.Error()))
		} else {
			r.SnapshotID = newID
		}
	}
	// Merged: a replication pass may have found the new snapshot already.
	if err := x.cat.MergeSnapshot(&catalog.Snapshot{
		ID: r.SnapshotID, Target: r.Target, Agency: r.Agency, Kind: r.Kind,
		Time: w.summary.BackupStart, RunID: r.ID, Status: status, DRC: r.DRC,
		Sites: map[string]time.Time{r.DRC: x.now()}, Bytes: w.summary.TotalBytesProcessed,
	}, true); err != nil {
		return err
	}
	if tagErr != nil {
		x.log.Warn("snapshot not tagged in the repository; recorded in the catalog", "snapshot", r.SnapshotID, "status", status, "err", tagErr)
	}
	return nil
}

// prepareRepo checks the DRC and creates the agency's repository there (seeding it at
// the other DRCs) the first time a backup needs it, as `cadang init` would. A path DRC
// whose directory does not exist yet is created then too.
func (x *Runner) prepareRepo(ctx context.Context, site *drc.Site, agency string) (*drc.Repo, error) {
	var missing *drc.MissingDirError
	if err := site.Check(ctx); err != nil && !errors.As(err, &missing) {
		return nil, err
	}
	repo := site.Repo(agency)
	if ok, err := repo.Exists(ctx); err != nil || ok {
		return repo, err
	}
	for _, res := range drc.Ensure(ctx, x.sites, agency) {
		if res.DRC == site.Name && res.Error != "" {
			return nil, errors.New(res.Error)
		}
		if res.Error != "" {
			x.log.Warn("repository not ready at a DRC", "drc", res.DRC, "agency", res.Agency, "err", res.Error)
		}
	}
	return repo, nil
}

// writer is the targets.Writer of a backup run.
type writer struct {
	x    *Runner
	j    *queue.Job
	repo *drc.Repo
	log  *slog.Logger
	tags []string

	used    bool
	summary *drc.BackupSummary
	scratch string
	// remoteAck forgets an agent's result once the run is recorded (remote.go).
	remoteAck func()
}

// Interface guards
var (
	_ targets.Writer  = (*writer)(nil)
	_ targets.History = (*writer)(nil)
	_ targets.Stored  = (*writer)(nil)
)

// StoredFiles implements targets.Stored.
func (w *writer) StoredFiles() (uint64, bool) {
	if w.summary == nil || w.summary.SnapshotID == "" {
		return 0, false
	}
	return w.summary.TotalFilesProcessed, true
}

func (w *writer) backup(ctx context.Context, o drc.BackupOptions) error {
	if w.used {
		return errors.New("a backup run writes one snapshot: the target called its writer twice")
	}
	w.used = true
	o.Host = w.j.Run.Target
	o.Tags = append(append([]string{}, w.tags...), o.Tags...)
	if o.Stdin == nil && o.Parent == "" {
		var note string
		o.Parent, o.Force, note = w.x.parentPastDamage(w.j.Run.Target, w.repo.DRC)
		if note != "" {
			w.j.Run.Notes = append(w.j.Run.Notes, note)
		}
	}
	// restic locks the repository before it reads anything: a backup that fails on a
	// lock stored nothing and may run again once cadang's own stale locks are gone.
	return w.x.leases.WithLocks(ctx, w.repo, func() error {
		sum, _, err := w.repo.Backup(ctx, o, w.progress)
		w.summary = sum
		return err
	})
}

func (w *writer) Files(ctx context.Context, s targets.FilesSpec) error {
	return w.backup(ctx, drc.BackupOptions{Paths: s.Paths, Exclude: s.Exclude, OneFileSystem: s.OneFileSystem, Tags: s.Tags,
		Dir: s.Dir, Parent: s.Parent, MinUnmodified: s.Unmodified})
}

// Last implements targets.History: the newest good snapshot of the run's target, in the
// repository the run writes to, that carries all of tags.
func (w *writer) Last(ctx context.Context, tags ...string) (targets.Reader, error) {
	snaps, err := w.repo.Snapshots(ctx, append([]string{"target=" + w.j.Run.Target}, tags...)...)
	if err != nil {
		return nil, err
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].Time.After(snaps[j].Time) })
	for _, s := range snaps {
		if st, _ := w.x.SnapshotStatus(s); st == catalog.SnapshotGood {
			return &reader{repo: w.repo, snap: s, log: w.log}, nil
		}
	}
	return nil, nil
}

func (w *writer) Stream(ctx context.Context, s targets.StreamSpec) error {
	return w.backup(ctx, drc.BackupOptions{Stdin: &drc.StdinCommand{Filename: s.Filename, Argv: s.Argv, Env: s.Env}, Tags: s.Tags})
}

func (w *writer) progress(p drc.Progress) {
	w.j.SetProgress(func(q *api.Progress) {
		q.PercentDone, q.BytesDone, q.TotalBytes = p.PercentDone, p.BytesDone, p.TotalBytes
		q.FilesDone, q.TotalFiles, q.SecondsRemaining, q.Errors = p.FilesDone, p.TotalFiles, p.SecondsRemaining, p.ErrorCount
	})
}

func (w *writer) Scratch() (string, error) {
	if w.scratch == "" {
		dir := filepath.Join(w.x.cfg.StateDir, "scratch", fmt.Sprintf("run-%d", w.j.Run.ID))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
		w.scratch = dir
	}
	return w.scratch, nil
}

func (w *writer) Logger() *slog.Logger { return w.log }

func (w *writer) cleanup() {
	if w.scratch != "" {
		if err := os.RemoveAll(w.scratch); err != nil {
			w.log.Error("cannot remove scratch", "dir", w.scratch, "err", err)
		}
	}
}

// WithCause says why a run stopped: the cause (cancelled by request, the daemon
// stopped) and what the run was doing, without saying the cause twice when the error
// already carries it (restic's "interrupted: cancelled by request").
func WithCause(cause, err error) string {
	c, e := fmt.Sprint(cause), fmt.Sprint(err)
	switch {
	case err == nil || e == c:
		return c
	case strings.Contains(e, c):
		return e
	}
	return c + ": " + e
}

// snapshotRecorded is called by a backup run once its snapshot is recorded.
func (x *Runner) snapshotRecorded(r *catalog.Run) {
	if err := x.cat.MarkSeen(r.DRC, r.Agency, []string{r.SnapshotID}, x.now()); err != nil {
		x.log.Error("catalog", "err", err)
	}
	x.repl.AfterBackup(r)
}

package runs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/mysql"
)

func (x *Runner) Restore(ctx context.Context, j *queue.Job, t *Target, site *drc.Site, req api.RestoreRequest) error {
	r := j.Run
	j.SetProgress(func(p *api.Progress) { p.Phase = "checking drc" })
	site, err := x.repl.RestoreSite(ctx, j, site, req.DRC != "") // engine/replication
	if err != nil {
		return err
	}
	repo := site.Repo(r.Agency)
	if isPITR(t, req) { // pitr.go: a continuous PostgreSQL target
		rd := &reader{repo: repo, j: j, log: x.log.With("run", r.ID, "target", r.Target, "drc", site.Name),
			stalled: func(err error) { x.readFailed(err, r.Agency, "restore", r.ID) }}
		return x.restorePITR(ctx, j, t, repo, req, rd)
	}
	if isBinlogPITR(t, req) { // binlog.go: a continuous MariaDB target
		rd := &reader{repo: repo, j: j, log: x.log.With("run", r.ID, "target", r.Target, "drc", site.Name),
			stalled: func(err error) { x.readFailed(err, r.Agency, "restore", r.ID) }}
		return x.restoreBinlogPITR(ctx, j, t, repo, req, rd)
	}
	snap, status, notes, err := x.ResolveSnapshotNoting(ctx, repo, r.Target, req.Snapshot)
	r.Notes = append(r.Notes, notes...)
	if err != nil {
		return err
	}
	r.SnapshotID = snap.ID
	if status != catalog.SnapshotGood {
		r.Notes = append(r.Notes, fmt.Sprintf("snapshot %s is %s, not good: restored as asked", snap.ShortID, status))
	}
	rd := &reader{repo: repo, snap: snap, j: j, log: x.log.With("run", r.ID, "target", r.Target, "drc", site.Name),
		stalled: func(err error) { x.readFailed(err, r.Agency, "restore", r.ID) }}
	j.SetProgress(func(p *api.Progress) { p.Phase = "restore" })
	err = t.Impl.Restore(ctx, rd, targets.RestoreRequest{To: req.To, Force: req.Force, Options: req.Options, Include: req.Include})
	r.BytesProcessed, r.FilesProcessed = rd.bytes.Load(), rd.files
	return err
}

// SnapshotStatus says whether a snapshot is good: from the catalog when it knows the
// snapshot, else from the repository's tags (a state dir may be lost with a site).
func (x *Runner) SnapshotStatus(s drc.Snapshot) (status string, rec *catalog.Snapshot) {
	if rec, err := x.cat.Snapshot(s.ID); err == nil {
		return rec.Status, rec
	}
	if v := s.Tag(tagStatusKey); v != "" {
		return v, nil
	}
	return catalog.SnapshotGood, nil
}

// ResolveSnapshot finds a snapshot of the target in repo: "latest" (or "") is the
// newest GOOD one that is not damaged at repo's DRC (notes say which newer ones were
// passed over, and why); otherwise id is a full id or a prefix of one, and must belong
// to this target.
func (x *Runner) ResolveSnapshot(ctx context.Context, repo *drc.Repo, target, id string) (drc.Snapshot, string, error) {
	snap, st, _, err := x.ResolveSnapshotNoting(ctx, repo, target, id)
	return snap, st, err
}

// ResolveSnapshotNoting is ResolveSnapshot, with the notes of what "latest" passed over.
func (x *Runner) ResolveSnapshotNoting(ctx context.Context, repo *drc.Repo, target, id string) (drc.Snapshot, string, []string, error) {
	snaps, err := repo.Snapshots(ctx, "target="+target)
	if err != nil {
		return drc.Snapshot{}, "", nil, err
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].Time.After(snaps[j].Time) })
	if id == "" || id == "latest" {
		var notes []string
		for _, s := range snaps {
			st, rec := x.SnapshotStatus(s)
			if st != catalog.SnapshotGood || s.Tag(mysql.TagBinlog) != "" { // a batch of binlog files is no dump
				continue
			}
			if rec != nil && rec.Damaged[repo.DRC] != "" {
				notes = append(notes, fmt.Sprintf("snapshot %s passed over: damaged at drc %q (%s)", s.ShortID, repo.DRC, rec.Damaged[repo.DRC]))
				continue
			}
			return s, st, notes, nil
		}
		return drc.Snapshot{}, "", notes, fmt.Errorf("target %q has no good snapshot at drc %q", target, repo.DRC)
	}
	var found []drc.Snapshot
	for _, s := range snaps {
		if strings.HasPrefix(s.ID, id) {
			found = append(found, s)
		}
	}
	switch {
	case len(found) == 0:
		return drc.Snapshot{}, "", nil, fmt.Errorf("target %q has no snapshot %s at drc %q", target, id, repo.DRC)
	case len(found) > 1:
		return drc.Snapshot{}, "", nil, fmt.Errorf("snapshot id %s is ambiguous: give more characters", id)
	}
	st, rec := x.SnapshotStatus(found[0])
	var notes []string
	if rec != nil && rec.Damaged[repo.DRC] != "" {
		notes = append(notes, fmt.Sprintf("warning: snapshot %s is damaged at drc %q (%s): parts of it cannot be restored", found[0].ShortID, repo.DRC, rec.Damaged[repo.DRC]))
	}
	return found[0], st, notes, nil
}

// reader is the targets.Reader of a restore run.
type reader struct {
	repo  *drc.Repo
	snap  drc.Snapshot
	j     *queue.Job // nil when a backup reads an earlier snapshot (targets.History)
	log   *slog.Logger
	bytes atomic.Uint64 // a dump may still count while the target closes its reader
	files uint64
	// stalled is told restic's errors, to record the objects they name as damaged
	// (a *drc.StallError, a *drc.DamagedPacksError) for restore and drill runs;
	// nil when nothing is recorded.
	stalled func(error)
}

// noteStall passes err to rd.stalled.
func (rd *reader) noteStall(err error) {
	if err != nil && rd.stalled != nil {
		rd.stalled(err)
	}
}

var _ targets.Reader = (*reader)(nil) // interface guard

func (rd *reader) Snapshot() targets.Snapshot {
	return targets.Snapshot{ID: rd.snap.ID, Time: rd.snap.Time, Paths: rd.snap.Paths, Tags: rd.snap.Tags}
}

func (rd *reader) RestoreTo(ctx context.Context, dir string, include []string) error {
	sum, err := rd.repo.Restore(ctx, rd.snap.ID, dir, include, func(p drc.Progress) {
		if rd.j == nil {
			return // a backup reading an earlier snapshot: the run's progress is the backup's
		}
		rd.j.SetProgress(func(q *api.Progress) {
			q.PercentDone, q.BytesDone, q.TotalBytes = p.PercentDone, p.BytesRestored, p.TotalBytes
			q.FilesDone, q.TotalFiles, q.SecondsRemaining = p.FilesRestored, p.TotalFiles, p.SecondsRemaining
		})
	})
	if sum != nil {
		rd.bytes.Add(sum.BytesRestored)
		rd.files += sum.FilesRestored
	}
	rd.noteStall(err)
	return err
}

func (rd *reader) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		err := rd.repo.Dump(ctx, rd.snap.ID, path, &countingWriter{w: pw, n: &rd.bytes})
		rd.noteStall(err)
		pw.CloseWithError(err)
	}()
	return pr, nil
}

func (rd *reader) Logger() *slog.Logger { return rd.log }

type countingWriter struct {
	w io.Writer
	n *atomic.Uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(uint64(n))
	return n, err
}

// List lists the snapshot's files (targets.Lister).
func (rd *reader) List(ctx context.Context) ([]targets.Entry, error) {
	nodes, err := rd.repo.List(ctx, rd.snap.ID)
	rd.noteStall(err)
	out := make([]targets.Entry, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, targets.Entry(n))
	}
	return out, err
}

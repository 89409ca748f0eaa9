package runs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/export"
	"github.com/cadang/cadang/engine/queue"
)

// An export run: an approved export request's snapshot (the paths asked, or all of
// it) streamed out of restic as a tar, sealed (engine/export: zstd, then age to the
// requester's keys) into a file of the run's scratch folder, and put in the exports
// area of the DRC it was read from. No plaintext is written anywhere: restic's tar
// goes through a pipe into the encoder; the scratch file and the DRC hold ciphertext.

// ExportSpec is what an export run makes.
type ExportSpec struct {
	Snapshot   string   // the full id (pinned by the request)
	Paths      []string // absolute paths of the snapshot; none: all of it
	Recipients []string // age (or SSH) public keys
	Object     string   // the bundle's name in the DRC's store
}

// Export makes the bundle of spec at site, and returns what it holds.
func (x *Runner) Export(ctx context.Context, j *queue.Job, site *drc.Site, spec ExportSpec) (export.Summary, error) {
	r := j.Run
	recipients, err := export.ParseRecipients(spec.Recipients)
	if err != nil {
		return export.Summary{}, err
	}
	repo := site.Repo(r.Agency)
	j.SetProgress(func(p *api.Progress) { p.Phase = "checking snapshot" })
	snap, status, err := x.ResolveSnapshot(ctx, repo, r.Target, spec.Snapshot)
	if err != nil {
		return export.Summary{}, err
	}
	r.SnapshotID = snap.ID
	if status != catalog.SnapshotGood {
		r.Notes = append(r.Notes, fmt.Sprintf("snapshot %s is %s, not good: exported as asked", snap.ShortID, status))
	}
	dir := filepath.Join(x.cfg.StateDir, "scratch", fmt.Sprintf("run-%d", r.ID))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return export.Summary{}, err
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			x.log.Error("cannot remove scratch", "dir", dir, "err", err)
		}
	}()
	f, err := os.OpenFile(filepath.Join(dir, "bundle"+export.Extension), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return export.Summary{}, err
	}
	defer f.Close()

	j.SetProgress(func(p *api.Progress) { p.Phase = "export" })
	pr, pw := io.Pipe()
	dumpCtx, stopDump := context.WithCancel(ctx)
	defer stopDump()
	dumped := make(chan error, 1)
	go func() {
		err := dumpTar(dumpCtx, repo, snap.ID, spec.Paths, pw)
		pw.CloseWithError(err)
		dumped <- err
	}()
	sum, err := export.Seal(ctx, pr, recipients, f)
	if err != nil {
		stopDump() // restic may be blocked writing: end it
		_ = pr.CloseWithError(err)
	}
	if derr := <-dumped; derr != nil && err == nil {
		err = derr
	} else if derr != nil && !errors.Is(derr, io.ErrClosedPipe) && !errors.Is(derr, context.Canceled) {
		err = fmt.Errorf("%w (restic dump: %v)", err, derr)
	}
	if err != nil {
		return export.Summary{}, fmt.Errorf("export of snapshot %s: %w", snap.ShortID, err)
	}
	r.BytesProcessed, r.FilesProcessed = uint64(sum.PlainBytes), uint64(sum.Files)
	if err := f.Sync(); err != nil {
		return export.Summary{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return export.Summary{}, err
	}
	j.SetProgress(func(p *api.Progress) { p.Phase = "upload" })
	if err := site.Store.Put(ctx, spec.Object, f, sum.Bytes); err != nil {
		return export.Summary{}, fmt.Errorf("drc %q: storing the bundle: %w", site.Name, err)
	}
	info, err := site.Store.Stat(ctx, spec.Object)
	if err != nil || info.Size != sum.Bytes {
		_ = site.Store.Delete(ctx, spec.Object)
		return export.Summary{}, fmt.Errorf("drc %q: the bundle stored is not whole (%d of %d bytes): %v", site.Name, info.Size, sum.Bytes, err)
	}
	return sum, nil
}

// dumpTar writes the paths of a snapshot (all of it when none) to w as one tar.
// restic dumps one folder per call: several are merged, entry by entry.
func dumpTar(ctx context.Context, repo *drc.Repo, snapshot string, paths []string, w io.Writer) error {
	if len(paths) == 0 {
		return repo.DumpTar(ctx, snapshot, "/", w)
	}
	if len(paths) == 1 {
		return repo.DumpTar(ctx, snapshot, paths[0], w)
	}
	tw := tar.NewWriter(w)
	for _, p := range paths {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			err := repo.DumpTar(ctx, snapshot, p, pw)
			pw.CloseWithError(err)
			done <- err
		}()
		err := copyTar(tw, pr)
		if err == nil {
			_, err = io.Copy(io.Discard, pr) // the padding after the archive's end
		}
		_ = pr.CloseWithError(err)
		if derr := <-done; err == nil {
			err = derr
		}
		if err != nil {
			return fmt.Errorf("path %s: %w", p, err)
		}
	}
	return tw.Close()
}

// copyTar copies every entry of the tar stream r into tw.
func copyTar(tw *tar.Writer, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

package libvirt

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cadang/cadang/targets"
)

var _ targets.Recoverer = (*Target)(nil) // interface guard

// staleRun is the scratch folder of a backup of this target whose cadang process no
// longer exists (killed with -9, a power cut), with what the run created.
type staleRun struct {
	dir string
	o   owner
}

// Recover implements targets.Recoverer: for every backup of this target that a cadang
// process which no longer exists left unfinished, it aborts the backup job still
// writing into the run's scratch folder, deletes the checkpoint that job created (with
// its bitmaps), and removes the scratch folder. Every backup does the same for its
// target before it starts.
func (t *Target) Recover(ctx context.Context, log *slog.Logger) error {
	stale := t.staleRuns(log)
	if len(stale) == 0 {
		return nil
	}
	c, err := dial(ctx, t.cfg.URI)
	if err != nil {
		return err
	}
	defer c.close()
	return t.clearStale(ctx, c, stale, log)
}

// staleRuns lists the scratch folders of this target's runs whose process is gone.
// Folders without an owner record are left alone: a run is making one this instant,
// or an older cadang made it.
func (t *Target) staleRuns(log *slog.Logger) []staleRun {
	base := t.cfg.scratchDir()
	entries, err := os.ReadDir(base)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warn("cannot look for scratch left by a stopped daemon", "dir", base, "err", err)
		}
		return nil
	}
	var out []staleRun
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), t.name+"-") {
			continue
		}
		dir := filepath.Join(base, e.Name())
		o, err := readOwner(dir)
		if err != nil || o.Target != t.name || !o.gone() {
			continue
		}
		out = append(out, staleRun{dir: dir, o: o})
	}
	return out
}

// clearStale clears the runs of stale, each as far as it can.
func (t *Target) clearStale(ctx context.Context, c *conn, stale []staleRun, log *slog.Logger) error {
	var errs []error
	for _, s := range stale {
		if err := t.clearRun(ctx, c, s, log); err != nil {
			errs = append(errs, fmt.Errorf("scratch %s of a stopped daemon (pid %d): %w", s.dir, s.o.PID, err))
		}
	}
	return errors.Join(errs...)
}

func (t *Target) clearRun(ctx context.Context, c *conn, s staleRun, log *slog.Logger) error {
	log = log.With("domain", s.o.Domain, "dir", s.dir, "pid", s.o.PID)
	dom, err := c.DomainLookupByName(s.o.Domain)
	switch {
	case err == nil:
		if err := abortJobInto(ctx, c, dom, s.dir, log); err != nil {
			return err // QEMU may still write there: the folder stays
		}
		if s.o.Checkpoint != "" {
			if err := deleteCheckpoint(ctx, c, dom, s.o.Checkpoint); err != nil {
				log.Error("checkpoint of a backup a stopped daemon left not removed", "checkpoint", s.o.Checkpoint, "err", err)
			} else {
				log.Warn("removed the checkpoint of a backup a stopped daemon left (its snapshot is not good)", "checkpoint", s.o.Checkpoint)
			}
		}
	case isCode(err, golibvirt.ErrNoDomain):
	default:
		return fmt.Errorf("domain %q: %s", s.o.Domain, reason(contextErr(ctx, err)))
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return err
	}
	log.Warn("removed the scratch folder of a backup a stopped daemon left")
	return nil
}

// backupJobXML is what cadang reads of a running backup job's XML.
type backupJobXML struct {
	Disks []struct {
		Target struct {
			File string `xml:"file,attr"`
		} `xml:"target"`
	} `xml:"disks>disk"`
}

// jobWritesInto reports whether the domain's active job is a backup job that writes
// into dir.
func jobWritesInto(c *conn, dom golibvirt.Domain, dir string) (bool, error) {
	x, err := c.DomainBackupGetXMLDesc(dom, 0)
	if err != nil {
		if isCode(err, golibvirt.ErrNoDomainBackup) || isCode(err, golibvirt.ErrOperationInvalid) {
			return false, nil
		}
		return false, fmt.Errorf("reading the backup job: %s", reason(err))
	}
	var b backupJobXML
	if err := xml.Unmarshal([]byte(x), &b); err != nil {
		return false, fmt.Errorf("reading the backup job: %w", err)
	}
	for _, d := range b.Disks {
		if f := d.Target.File; f != "" && strings.HasPrefix(f, dir+string(filepath.Separator)) {
			return true, nil
		}
	}
	return false, nil
}

// staleJobWait bounds how long an aborted backup job may take to end.
const staleJobWait = time.Minute

// abortJobInto aborts the domain's backup job if it writes into dir, and waits until
// libvirt ended it.
func abortJobInto(ctx context.Context, c *conn, dom golibvirt.Domain, dir string, log *slog.Logger) error {
	typ, _, err := c.DomainGetJobStats(dom, 0)
	if err != nil {
		return fmt.Errorf("domain job: %s", reason(contextErr(ctx, err)))
	}
	if golibvirt.DomainJobType(typ) == golibvirt.DomainJobNone {
		return nil
	}
	ours, err := jobWritesInto(c, dom, dir)
	if err != nil || !ours {
		return err
	}
	if err := c.DomainAbortJob(dom); err != nil && !isCode(err, golibvirt.ErrOperationInvalid) {
		return fmt.Errorf("aborting the backup job: %s", reason(err))
	}
	deadline := time.Now().Add(staleJobWait)
	for {
		typ, _, err := c.DomainGetJobStats(dom, 0)
		if err != nil {
			return fmt.Errorf("domain job: %s", reason(contextErr(ctx, err)))
		}
		if golibvirt.DomainJobType(typ) == golibvirt.DomainJobNone {
			log.Warn("aborted the backup job a stopped daemon left")
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the backup job a stopped daemon left did not end within %s of its abort", staleJobWait)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(pollInterval):
		}
	}
}

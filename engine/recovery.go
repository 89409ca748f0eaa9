package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/schedule"
)

// startup is what the daemon does once, before it serves, after recoverOrphans marked
// the runs a dead daemon left unfinished:
//
//  0. the scratch folders runs of a daemon that is gone left behind are removed (a
//     killed drill leaves its whole restored copy there, a killed dump its pgpass);
//  1. a recovery run (op unlock) for every repository on which runs of a daemon that
//     is gone (crashed, or stopped while they ran) held leases with restic
//     processes: it clears the locks those left behind;
//  2. one catch-up backup for every target whose schedule came due while the daemon
//     was down, or whose last backup did not end (the daemon crashed in it, or a
//     shutdown interrupted a scheduled one), unless the target says catchup: false;
//  3. one catch-up run for every missed prune or check schedule.
//
// The schedules' new states are stored together with the runs they queue.
func (d *Daemon) startup(orphans []catalog.Run) error {
	cf := d.conf()
	cf.runs.RecoverTargets(cf.targets) // recover_targets.go: what backups of a dead daemon left outside the repository
	if err := d.queueRecovery(); err != nil {
		return err
	}
	d.removeStaleScratch()
	if err := d.failUnqueued(); err != nil { // requests.go
		return fmt.Errorf("catalog: requests: %w", err)
	}
	now := d.now()
	states, err := d.cat.ScheduleStates()
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	due, store := cf.sched.Load(now, states)

	redo := map[string]string{} // target -> why its last backup must be redone
	// A continuous target's log batch that did not end needs no catch-up: its files
	// leave the spool only once a batch recorded them, so the next batch stores them.
	for _, r := range orphans {
		if r.Op == "backup" && r.Reason != reasonWALArchive && cf.targets[r.Target] != nil {
			redo[r.Target] = fmt.Sprintf("run %d did not end: the daemon stopped", r.ID)
		}
	}
	for name := range cf.targets {
		if _, ok := redo[name]; ok {
			continue
		}
		last, err := d.cat.Runs(catalog.RunFilter{Target: name, Op: "backup", ExceptReason: reasonWALArchive, Limit: 1})
		if err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		if len(last) == 1 && last[0].Status == catalog.Interrupted && last[0].Reason != reasonOnDemand {
			redo[name] = fmt.Sprintf("run %d was interrupted", last[0].ID)
		}
	}

	var slots []schedule.DueSlot
	for _, ds := range due {
		if ds.Entry.Op == "backup" {
			delete(redo, ds.Entry.Target) // one catch-up covers both
		}
		slots = append(slots, ds)
	}
	var subs []submission
	names := make([]string, 0, len(redo))
	for name := range redo {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := cf.targets[name]
		if !t.Cfg.CatchUp() {
			d.log.Warn("backup did not end; not redone (catchup: false)", "target", name, "why", redo[name])
			continue
		}
		d.log.Info("backup did not end: queuing a catch-up", "target", name, "why", redo[name])
		subs = append(subs, d.backupSubmission(t, reasonCatchUp, queue.PriorityScheduled))
	}
	if len(subs) > 0 {
		if _, err := d.submitAll(subs, nil); err != nil {
			return err
		}
	}
	return d.fire(slots, store)
}

// queueRecovery queues an unlock run for every repository with leases that no live
// cadang process holds and whose runs started restic; leases without restic processes
// can hold no lock and are dropped.
func (d *Daemon) queueRecovery() error {
	cf := d.conf()
	leases, err := d.cat.Leases("", "")
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	repos := map[string]bool{}
	var order []string
	for i := range leases {
		l := &leases[i]
		if d.leases.InUse(l) {
			continue
		}
		if len(l.Restic) == 0 {
			if err := d.cat.DeleteLease(l.DRC, l.Agency, l.Run); err != nil {
				return fmt.Errorf("catalog: %w", err)
			}
			continue
		}
		key := catalog.RepoKey(l.DRC, l.Agency)
		if !repos[key] {
			repos[key] = true
			order = append(order, key)
		}
	}
	var subs []submission
	for _, key := range order {
		drcName, agency, _ := strings.Cut(key, "/")
		site, err := d.sites.site(drcName)
		if err != nil {
			d.log.Warn("leases on a DRC that is no longer configured", "drc", drcName, "agency", agency)
			continue
		}
		r := &catalog.Run{Op: "unlock", Agency: agency, DRC: site.Name, Reason: reasonRecovery}
		subs = append(subs, submission{run: r, prio: queue.PriorityRecovery,
			exec: func(ctx context.Context, j *queue.Job) error { return cf.runs.RecoverRepo(ctx, j, site, agency) }})
	}
	if len(subs) == 0 {
		return nil
	}
	_, err = d.submitAll(subs, nil)
	return err
}

// removeStaleScratch removes what runs left in <state_dir>/scratch: run-N (a backup's
// private folder, which may hold a password file) and drill-N (a drill's restored
// copy). No run is running yet when it is called, and the catalog's lock proves that no
// other daemon uses this state dir, so every such folder is stale. Other entries are
// not cadang's: they are left, with a warning.
func (d *Daemon) removeStaleScratch() {
	cf := d.conf()
	dir := filepath.Join(cf.cfg.StateDir, "scratch")
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.log.Error("cannot read the scratch folder", "dir", dir, "err", err)
		}
		return
	}
	for _, e := range entries {
		name := e.Name()
		kind, id, ok := strings.Cut(name, "-")
		if _, err := strconv.ParseUint(id, 10, 64); !ok || err != nil || (kind != "run" && kind != "drill") {
			d.log.Warn("not cadang's: left in the scratch folder", "path", filepath.Join(dir, name))
			continue
		}
		p := filepath.Join(dir, name)
		size := du(p)
		if err := os.RemoveAll(p); err != nil {
			d.log.Error("cannot remove a stale scratch folder", "path", p, "err", err)
			continue
		}
		d.log.Warn("removed the scratch folder a run of a stopped daemon left", "path", p, "run", id, "bytes", size)
	}
}

// du is the size of the files below p.
func du(p string) int64 {
	var n int64
	_ = filepath.WalkDir(p, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

package engine

import (
	"context"
	"fmt"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/runs"
)

// backupSubmission builds a backup run of t. When it succeeds, t's retention is queued.
func (d *Daemon) backupSubmission(t *target, reason string, prio int) submission {
	cf := d.conf()
	r := &catalog.Run{Op: "backup", Target: t.Cfg.Name, Agency: t.Cfg.Agency, Kind: t.Cfg.Kind, DRC: d.sites.primary().Name, Reason: reason}
	return submission{run: r, prio: prio, key: "backup/" + t.Cfg.Name, exec: func(ctx context.Context, j *queue.Job) error {
		err := cf.runs.Backup(ctx, j, t)
		if err == nil && j.Run.Status == catalog.Succeeded {
			d.afterBackup(j.Run.ID, t)
			d.chainRestarted(j, t) // binlog.go: a full backup after a hole in the WAL/binlog chain
		}
		return err
	}}
}

// afterBackup queues the retention of a target whose backup succeeded.
func (d *Daemon) afterBackup(run uint64, t *target) {
	if t.Cfg.Retention == nil {
		return
	}
	sub := d.forgetSubmission(t, false, reasonRetention, queue.PriorityScheduled)
	if w := d.queue.Waiting(sub.key); w != nil {
		return // one waiting forget covers this backup too
	}
	if _, err := d.submitAll([]submission{sub}, nil); err != nil {
		d.log.Warn("cannot queue retention", "target", t.Cfg.Name, "after", run, "err", err)
	}
}

// Forget queues a forget run of a target (`cadang forget`).
func (d *Daemon) Forget(name string, dryRun bool) (catalog.Run, error) {
	cf := d.conf()
	t, ok := cf.targets[name]
	if !ok {
		return catalog.Run{}, d.unknownTarget(name)
	}
	if t.Cfg.Retention == nil {
		return catalog.Run{}, fmt.Errorf("%w: target %q has no retention policy: nothing to forget", errBadRequest, name)
	}
	sub := d.forgetSubmission(t, dryRun, reasonOnDemand, queue.PriorityOnDemand)
	sub.key = ""
	return d.submit(sub.run, sub.prio, sub.exec)
}

func (d *Daemon) forgetSubmission(t *target, dryRun bool, reason string, prio int) submission {
	cf := d.conf()
	r := &catalog.Run{Op: "forget", Target: t.Cfg.Name, Agency: t.Cfg.Agency, Kind: t.Cfg.Kind, DRC: d.sites.primary().Name, Reason: reason}
	if dryRun {
		r.Notes = []string{"dry run: nothing is removed"}
	}
	return submission{run: r, prio: prio, key: "forget/" + t.Cfg.Name, exec: func(ctx context.Context, j *queue.Job) error {
		err := cf.runs.Forget(ctx, j, t, dryRun)
		if err == nil && !dryRun {
			// The secondaries learn at once that the snapshots left the primary: their
			// deletion grace starts now, and the ledger says when they go there.
			d.repl.Soon(r.Agency, fmt.Sprintf("after forget run %d", r.ID))
		}
		return err
	}}
}

// RetentionResult is the manifest of a forget run (cmd prints it).
type RetentionResult = runs.RetentionResult

package libvirt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cadang/cadang/targets/libvirt/domxml"
)

// begin starts the backup job, with the guest's file systems frozen if its agent can.
func (r *run) begin(ctx context.Context, images map[string]string, parent *parentSnapshot, withCheckpoint bool) error {
	for _, f := range images {
		_ = os.Remove(f) // left by a first attempt
	}
	incremental := ""
	if parent != nil {
		incremental = parent.checkpoint
	}
	var cpXML golibvirt.OptString
	name := ""
	if withCheckpoint {
		name = r.checkpointPrefix() + strconv.FormatInt(time.Now().UnixNano(), 10)
		cpXML = golibvirt.OptString{domxml.Checkpoint(name, "cadang target "+r.t.name, r.all, images)}
	}
	if err := r.waitNoJob(ctx); err != nil {
		return err
	}
	if name != "" {
		// Recorded before the job can create it: a daemon that starts after this one
		// died deletes it.
		r.owner.Checkpoint = name
		if err := writeOwner(r.scratch, r.owner); err != nil {
			return err
		}
	}
	if r.t.beforeFreeze != nil {
		r.t.beforeFreeze(r.t.cfg.Domain)
	}
	consistency, why, thaw := r.freeze(ctx)
	frozenAt := time.Now()
	started := make(chan error, 1)
	go func() { started <- r.c.DomainBackupBegin(r.dom, domxml.Backup(r.all, images, incremental), cpXML, 0) }()
	var err error
	select {
	case err = <-started:
		thaw()
	case <-time.After(time.Until(frozenAt.Add(thawAfter))):
		// libvirt waits for something (its job lock, a busy QEMU): the guest is not
		// kept frozen meanwhile, and the copy is of an instant after the thaw.
		thaw()
		if consistency == AppConsistent {
			consistency = CrashConsistent
			why = fmt.Sprintf("crash-consistent: the backup job had not started %s after the guest's file systems were frozen, so they were thawed first (a guest stays frozen %s at most)", thawAfter, MaxFrozen)
		}
		err = <-started
	}
	if err != nil {
		return err
	}
	r.newCheckpoint, r.m.Checkpoint, r.m.Consistency = name, name, consistency
	r.note(why)
	return nil
}

// MaxFrozen is the longest a guest's file systems stay frozen for a backup: they are
// thawed thawAfter after the freeze was asked for, whether the backup job has started
// or not, and the thaw itself takes a moment.
const (
	MaxFrozen = 10 * time.Second
	thawAfter = 8 * time.Second
)

// defaultJobWait is how long a backup waits for another job of the domain (a
// migration, a dump, someone else's backup job) to end before it fails.
const defaultJobWait = 2 * time.Minute

// waitNoJob waits until the domain has no active job, so that the guest is frozen only
// when libvirt can start the backup job at once: libvirt would otherwise wait for its
// job lock with the guest frozen. A backup job that a stopped cadang left was aborted
// before (Recover, clearStale); any other job is someone else's, waited for until
// jobWait, then the run fails saying whose.
func (r *run) waitNoJob(ctx context.Context) error {
	wait := r.t.jobWait
	if wait == 0 {
		wait = defaultJobWait
	}
	deadline := time.Now().Add(wait)
	waiting := ""
	for {
		typ, params, err := jobStats(r.c, r.dom)
		if err != nil {
			return fmt.Errorf("checking for an active job: %s", reason(contextErr(ctx, err)))
		}
		if golibvirt.DomainJobType(typ) == golibvirt.DomainJobNone {
			if waiting != "" {
				r.note(fmt.Sprintf("waited for another %s job of the domain to end before the backup started", waiting))
			}
			return nil
		}
		if waiting == "" {
			waiting = jobName(params)
			r.log.Warn("the domain has an active job: waiting for it to end before the backup starts (the guest is not frozen)",
				"job", waiting, "wait", wait)
			if r.t.onJobWait != nil {
				r.t.onJobWait(r.t.cfg.Domain)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the domain has an active %s job that this backup did not start; waited %s for it to end, the guest was not frozen (see `virsh domjobinfo %s`)",
				jobName(params), wait, r.t.cfg.Domain)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(pollInterval):
		}
	}
}

// jobStats is DomainGetJobStats of the active job, but a backup job that libvirt is
// setting up or ending ("internal error: backup job data missing") is reported as an
// active backup job rather than an error.
func jobStats(c *conn, dom golibvirt.Domain) (int32, []golibvirt.TypedParam, error) {
	typ, params, err := c.DomainGetJobStats(dom, 0)
	if err != nil && isCode(err, golibvirt.ErrInternalError) && strings.Contains(err.Error(), "backup job data missing") {
		op := golibvirt.TypedParam{Field: golibvirt.DomainJobOperationStr,
			Value: *golibvirt.NewTypedParamValueInt(int32(golibvirt.DomainJobOperationStrBackup))}
		return int32(golibvirt.DomainJobUnbounded), []golibvirt.TypedParam{op}, nil
	}
	return typ, params, err
}

// jobName names an active job's operation as libvirt's job statistics say it.
func jobName(params []golibvirt.TypedParam) string {
	op, _ := paramUint(params, golibvirt.DomainJobOperationStr)
	switch golibvirt.DomainJobOperation(op) {
	case golibvirt.DomainJobOperationStrStart:
		return "start"
	case golibvirt.DomainJobOperationStrSave:
		return "save"
	case golibvirt.DomainJobOperationStrRestore:
		return "restore"
	case golibvirt.DomainJobOperationStrMigrationIn:
		return "incoming migration"
	case golibvirt.DomainJobOperationStrMigrationOut:
		return "migration"
	case golibvirt.DomainJobOperationStrSnapshot:
		return "snapshot"
	case golibvirt.DomainJobOperationStrSnapshotRevert:
		return "snapshot revert"
	case golibvirt.DomainJobOperationStrDump:
		return "dump"
	case golibvirt.DomainJobOperationStrBackup:
		return "backup"
	case golibvirt.DomainJobOperationStrSnapshotDelete:
		return "snapshot delete"
	}
	return "unknown"
}

// brokenCheckpoint reports whether libvirt refused a backup job because of the
// checkpoint it starts from, not for any other reason (which a full backup would meet
// too, and which must not cost the chain its checkpoint).
func brokenCheckpoint(err error) bool {
	return isCode(err, golibvirt.ErrCheckpointInconsistent) || isCode(err, golibvirt.ErrNoDomainCheckpoint) ||
		isCode(err, golibvirt.ErrInvalidDomainCheckpoint)
}

// freeze asks the guest agent to freeze the guest's file systems; it returns the
// consistency the backup gets, why, and the function that thaws them.
func (r *run) freeze(ctx context.Context) (string, string, func()) {
	noop := func() {}
	if !r.live.AgentConnected() {
		return CrashConsistent, "crash-consistent: the domain has no connected QEMU guest agent to freeze its file systems", noop
	}
	n, err := r.c.DomainFsfreeze(r.dom, nil, 0)
	if err != nil {
		return CrashConsistent, "crash-consistent: the guest agent could not freeze the file systems: " + reason(contextErr(ctx, err)), noop
	}
	thaw := func() {
		c, done, err := r.control(ctx)
		if err == nil {
			defer done()
			_, err = c.DomainFsthaw(r.dom, nil, 0)
		}
		if err != nil {
			r.log.Error("the guest's file systems may still be frozen: thaw failed", "err", reason(err))
			r.note("WARNING: thawing the guest's file systems failed (" + reason(err) + "): run `virsh domfsthaw " + r.t.cfg.Domain + "`")
		}
	}
	if n == 0 {
		thaw()
		return CrashConsistent, "crash-consistent: the guest agent froze no file system", noop
	}
	return AppConsistent, fmt.Sprintf("app-consistent: the guest agent froze %d file system(s) while the backup started", n), thaw
}

// pollInterval is how often a running backup job is looked at.
const pollInterval = 200 * time.Millisecond

// wait waits for the backup job to end; a cancelled context aborts it.
func (r *run) wait(ctx context.Context) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		typ, params, err := jobStats(r.c, r.dom)
		if err != nil {
			if ctx.Err() != nil {
				return r.abort(ctx)
			}
			return fmt.Errorf("watching the backup job: %s", reason(err))
		}
		if golibvirt.DomainJobType(typ) == golibvirt.DomainJobNone {
			break
		}
		r.log.Debug("backup job", "processed", param(params, "disk_processed"), "total", param(params, "disk_total"))
		select {
		case <-ctx.Done():
			return r.abort(ctx)
		case <-t.C:
		}
	}
	typ, params, err := r.c.DomainGetJobStats(r.dom, golibvirt.DomainJobStatsCompleted)
	if err != nil {
		return fmt.Errorf("backup job result: %s", reason(contextErr(ctx, err)))
	}
	msg, _ := param(params, "errmsg").(string)
	r.log.Debug("backup job ended", "type", typ, "operation", param(params, "operation"), "errmsg", msg,
		"processed", param(params, "disk_processed"), "total", param(params, "disk_total"))
	switch golibvirt.DomainJobType(typ) {
	case golibvirt.DomainJobCompleted:
		done, _ := paramUint(params, golibvirt.DomainJobDiskProcessed)
		total, ok := paramUint(params, golibvirt.DomainJobDiskTotal)
		if ok && done != total {
			return fmt.Errorf("backup job ended having copied %d of %d bytes", done, total)
		}
		return nil
	case golibvirt.DomainJobFailed:
		return fmt.Errorf("backup job failed: %s", orUnknown(oneLine(msg)))
	case golibvirt.DomainJobCancelled:
		return fmt.Errorf("backup job was aborted: %s", orUnknown(oneLine(msg)))
	}
	return errors.New("backup job ended without a result (did the domain stop?)")
}

// abort aborts the backup job of a cancelled run and waits until libvirt ended it, so
// that nothing writes to scratch once it is removed.
func (r *run) abort(ctx context.Context) error {
	cause := context.Cause(ctx)
	c, done, err := r.control(ctx)
	if err != nil {
		return fmt.Errorf("%w (the backup job may still run: %v)", cause, err)
	}
	defer done()
	if err := c.DomainAbortJob(r.dom); err != nil && !isCode(err, golibvirt.ErrOperationInvalid) {
		r.log.Error("cannot abort the backup job", "err", reason(err))
	}
	for range 150 {
		typ, _, err := c.DomainGetJobStats(r.dom, 0)
		if err != nil || golibvirt.DomainJobType(typ) == golibvirt.DomainJobNone {
			break
		}
		time.Sleep(pollInterval)
	}
	return cause
}

func param(ps []golibvirt.TypedParam, field string) any {
	for _, p := range ps {
		if p.Field == field {
			return p.Value.I
		}
	}
	return nil
}

func paramUint(ps []golibvirt.TypedParam, field string) (uint64, bool) {
	switch v := param(ps, field).(type) {
	case uint64:
		return v, true
	case int64:
		return uint64(v), true
	case uint32:
		return uint64(v), true
	case int32:
		return uint64(v), true
	}
	return 0, false
}

package libvirt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cadang/cadang/internal/iec"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/libvirt/domxml"
)

// run is one backup of a domain.
type run struct {
	t    *Target
	w    targets.Writer
	c    *conn
	dom  golibvirt.Domain
	log  *slog.Logger
	live *domxml.Domain
	// disks to back up, and the target names of all the domain's disks
	disks []domxml.Disk
	all   []string

	scratch string // the run's folder in the scratch dir, removed at the end
	owner   owner  // the record in scratch of who made it and what the run creates
	tree    string // the snapshot's content, below scratch
	notes   []string
	m       Manifest

	newCheckpoint string // created by this run's backup job
}

// Backup writes one snapshot of the domain: a live backup job if QEMU runs it, its
// disk files if it is shut off.
func (t *Target) Backup(ctx context.Context, w targets.Writer) (*targets.BackupResult, error) {
	c, err := dial(ctx, t.cfg.URI)
	if err != nil {
		return nil, err
	}
	defer c.close()
	dom, err := t.lookup(c)
	if err != nil {
		return nil, contextErr(ctx, err)
	}
	r := &run{t: t, w: w, c: c, dom: dom, log: w.Logger().With("domain", t.cfg.Domain)}
	// What a backup of a daemon that died left (the daemon cleans up at start too).
	if stale := t.staleRuns(r.log); len(stale) > 0 {
		if err := t.clearStale(ctx, c, stale, r.log); err != nil {
			r.log.Error("cannot clear what a stopped daemon left", "err", err)
		}
	}
	ok := false
	defer func() {
		// The checkpoint goes first: the scratch folder's owner record names it until
		// then, for a daemon that starts after this one died.
		if !ok && r.newCheckpoint != "" {
			// The chain goes on from the previous checkpoint, whose snapshot is good.
			r.deleteCheckpoints(ctx, []string{r.newCheckpoint})
		}
		if r.scratch != "" {
			if err := os.RemoveAll(r.scratch); err != nil {
				r.log.Error("cannot remove scratch", "dir", r.scratch, "err", err)
			}
		}
	}()
	res, err := r.backup(ctx)
	if err != nil {
		return nil, contextErr(ctx, r.scratchFull(err))
	}
	ok = true
	return res, nil
}

func (r *run) backup(ctx context.Context) (*targets.BackupResult, error) {
	cfg := r.t.cfg
	state, _, err := r.c.DomainGetState(r.dom, 0)
	if err != nil {
		return nil, fmt.Errorf("domain %q: state: %s", cfg.Domain, reason(err))
	}
	liveXML, err := r.c.DomainGetXMLDesc(r.dom, 0)
	if err != nil {
		return nil, fmt.Errorf("domain %q: XML: %s", cfg.Domain, reason(err))
	}
	// The persistent definition is what a restore defines again; without
	// VIR_DOMAIN_XML_SECURE it holds no passwords (VNC, SPICE).
	defXML, err := r.c.DomainGetXMLDesc(r.dom, golibvirt.DomainXMLInactive)
	if err != nil {
		return nil, fmt.Errorf("domain %q: XML: %s", cfg.Domain, reason(err))
	}
	if r.live, err = domxml.Parse(liveXML); err != nil {
		return nil, fmt.Errorf("domain %q: %w", cfg.Domain, err)
	}
	if r.disks, err = r.live.SelectDisks(cfg.Disks); err != nil {
		return nil, err
	}
	r.all = r.live.DiskNames()
	if err := r.makeScratch(); err != nil {
		return nil, err
	}
	r.m = Manifest{Version: manifestVersion, Domain: cfg.Domain, UUID: r.live.UUID, URI: r.c.uri,
		State: stateName(state), Time: time.Now().UTC(), BlockSize: BlockSize}

	var images map[string]string
	var parent *parentSnapshot
	if active(state) {
		images, parent, err = r.liveBackup(ctx)
	} else {
		images, err = r.offlineBackup(ctx)
	}
	if err != nil {
		return nil, err
	}
	spec, err := r.buildTree(ctx, images, parent)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(r.tree, "domain.xml"), []byte(defXML), 0o600); err != nil {
		return nil, err
	}
	manifest, err := json.MarshalIndent(r.m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(r.tree, "manifest.json"), manifest, 0o600); err != nil {
		return nil, err
	}
	if r.t.beforeStore != nil {
		r.t.beforeStore(r.t.cfg.Domain)
	}
	if err := r.w.Files(ctx, spec); err != nil {
		return nil, err
	}
	if r.newCheckpoint != "" {
		r.deleteCheckpoints(ctx, r.olderCheckpoints(ctx))
	}
	return &targets.BackupResult{Manifest: manifest, Notes: r.summary()}, nil
}

// makeScratch creates the run's folder in the scratch dir, owned by the user QEMU runs
// as (libvirt's DAC label), so that QEMU can create the backup images in it.
func (r *run) makeScratch() error {
	base := r.t.cfg.scratchDir()
	if err := os.MkdirAll(base, 0o711); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	dir, err := os.MkdirTemp(base, r.t.name+"-")
	if err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	r.scratch, r.tree = dir, filepath.Join(dir, "tree")
	r.owner = self(r.t.name, r.t.cfg.Domain)
	if err := writeOwner(dir, r.owner); err != nil {
		return err
	}
	if uid, gid, ok := r.live.QEMUOwner(); ok {
		if err := os.Chown(dir, uid, gid); err != nil {
			return fmt.Errorf("scratch dir: %w", err)
		}
	}
	return os.Mkdir(r.tree, 0o700)
}

// parentSnapshot is the snapshot an incremental backup builds on.
type parentSnapshot struct {
	reader     targets.Reader
	manifest   *Manifest
	checkpoint string
	probes     map[string]*probes // by disk, see sound.go
}

// checkpointPrefix starts the names of the checkpoints this target creates.
func (r *run) checkpointPrefix() string { return "cadang-" + r.t.name + "-" }

// ourCheckpoints lists the domain's checkpoints this target created, oldest first.
func (r *run) ourCheckpoints(ctx context.Context) ([]string, error) {
	cps, _, err := r.c.DomainListAllCheckpoints(r.dom, 1, 0)
	if err != nil {
		return nil, fmt.Errorf("domain %q: listing checkpoints: %s", r.t.cfg.Domain, reason(contextErr(ctx, err)))
	}
	type cp struct {
		name string
		at   int64
	}
	var ours []cp
	for _, c := range cps {
		rest, ok := strings.CutPrefix(c.Name, r.checkpointPrefix())
		if !ok {
			continue
		}
		if at, err := strconv.ParseInt(rest, 10, 64); err == nil {
			ours = append(ours, cp{c.Name, at})
		}
	}
	sort.Slice(ours, func(i, j int) bool { return ours[i].at < ours[j].at })
	names := make([]string, len(ours))
	for i, c := range ours {
		names[i] = c.name
	}
	return names, nil
}

// olderCheckpoints are this target's checkpoints but the one just created: no longer
// needed once the new snapshot is stored.
func (r *run) olderCheckpoints(ctx context.Context) []string {
	cps, err := r.ourCheckpoints(ctx)
	if err != nil {
		r.log.Warn("old checkpoints not removed", "err", err)
		return nil
	}
	var old []string
	for _, c := range cps {
		if c != r.newCheckpoint {
			old = append(old, c)
		}
	}
	return old
}

// deleteCheckpoints removes checkpoints with their bitmaps (see deleteCheckpoint). It
// works after the run's context ended, on a new connection if need be: a cancelled run
// must not leave its checkpoint behind.
func (r *run) deleteCheckpoints(ctx context.Context, names []string) {
	if len(names) == 0 {
		return
	}
	c, done, err := r.control(ctx)
	if err != nil {
		r.log.Error("checkpoints not removed", "checkpoints", names, "err", err)
		return
	}
	defer done()
	for _, n := range names {
		if err := deleteCheckpoint(ctx, c, r.dom, n); err != nil {
			r.log.Error("checkpoint not removed", "checkpoint", n, "err", err)
			continue
		}
		r.log.Debug("checkpoint removed", "checkpoint", n)
	}
}

// control returns a connection for clean-up: the run's own while its context lives,
// else a new one that ends with done.
func (r *run) control(ctx context.Context) (*conn, func(), error) {
	if ctx.Err() == nil && r.c.IsConnected() {
		return r.c, func() {}, nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	c, err := dial(cctx, r.t.cfg.URI)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return c, func() { c.close(); cancel() }, nil
}

// liveBackup backs up a running domain with a push-mode backup job. It returns the images
// libvirt wrote, by disk, and the parent snapshot if the backup is incremental.
func (r *run) liveBackup(ctx context.Context) (map[string]string, *parentSnapshot, error) {
	images := map[string]string{}
	for _, d := range r.disks {
		images[d.Target.Dev] = filepath.Join(r.scratch, d.Target.Dev+".qcow2")
	}
	parent, err := r.plan(ctx)
	if err != nil {
		return nil, nil, err
	}
	withCheckpoint := true
	for _, d := range r.disks {
		if d.Driver.Type != "qcow2" {
			withCheckpoint = false
			r.note(fmt.Sprintf("disk %s is %s: libvirt keeps checkpoints of qcow2 disks only, so every backup is full", d.Target.Dev, orUnknown(d.Driver.Type)))
		}
	}
	if !withCheckpoint && parent != nil {
		parent = nil
	}
	err = r.begin(ctx, images, parent, withCheckpoint)
	if err != nil && parent != nil && brokenCheckpoint(err) {
		// A checkpoint whose bitmap is gone or inconsistent (QEMU crashed, the image was
		// edited offline) cannot give an incremental backup: start over with a full one.
		r.note(fmt.Sprintf("checkpoint %s cannot be used (%s): full backup instead", parent.checkpoint, reason(err)))
		r.deleteCheckpoints(ctx, []string{parent.checkpoint})
		parent = nil
		err = r.begin(ctx, images, nil, withCheckpoint)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("domain %q: starting the backup job: %s", r.t.cfg.Domain, reason(contextErr(ctx, err)))
	}
	if r.t.afterBegin != nil {
		r.t.afterBegin(r.t.cfg.Domain)
	}
	if err := r.wait(ctx); err != nil {
		return nil, nil, fmt.Errorf("domain %q: %w", r.t.cfg.Domain, err)
	}
	if parent != nil {
		if why := r.checkSound(ctx, images, parent); why != "" {
			// The bitmap missed changes: neither checkpoint can be built on.
			r.note(fmt.Sprintf("checkpoint %s cannot be trusted: %s: full backup instead", parent.checkpoint, why))
			r.deleteCheckpoints(ctx, []string{r.newCheckpoint, parent.checkpoint})
			r.newCheckpoint, parent = "", nil
			if err := r.begin(ctx, images, nil, withCheckpoint); err != nil {
				return nil, nil, fmt.Errorf("domain %q: starting the backup job: %s", r.t.cfg.Domain, reason(contextErr(ctx, err)))
			}
			if err := r.wait(ctx); err != nil {
				return nil, nil, fmt.Errorf("domain %q: %w", r.t.cfg.Domain, err)
			}
		}
	}
	if parent != nil {
		r.m.Level = Incremental
		r.m.Parent = &ParentRef{Checkpoint: parent.checkpoint, Snapshot: parent.reader.Snapshot().ID}
		r.m.Generation = parent.manifest.Generation + 1
	} else {
		r.m.Level, r.m.Generation = Full, 1
	}
	return images, parent, nil
}

// plan decides between an incremental backup, from this target's newest checkpoint and
// the good snapshot made with it, and a full one; it notes why a backup is full.
func (r *run) plan(ctx context.Context) (*parentSnapshot, error) {
	cps, err := r.ourCheckpoints(ctx)
	if err != nil {
		return nil, err
	}
	if len(cps) == 0 {
		r.note("no checkpoint of an earlier backup: full backup")
		return nil, nil
	}
	cp := cps[len(cps)-1]
	h, ok := r.w.(targets.History)
	if !ok {
		r.note("earlier snapshots cannot be read here: full backup")
		return nil, nil
	}
	rd, err := h.Last(ctx, "checkpoint="+cp)
	if err != nil {
		return nil, err
	}
	if rd == nil {
		r.note(fmt.Sprintf("checkpoint %s has no good snapshot in the repository: full backup", cp))
		return nil, nil
	}
	pm, err := readManifest(ctx, rd)
	if err != nil {
		r.note(fmt.Sprintf("%v: full backup", err))
		return nil, nil
	}
	if why := r.incompatible(pm, cp); why != "" {
		r.note(fmt.Sprintf("snapshot %.8s of checkpoint %s %s: full backup", rd.Snapshot().ID, cp, why))
		return nil, nil
	}
	pr, why := r.readProbes(ctx, rd, pm)
	if why != "" {
		r.note(fmt.Sprintf("checkpoint %s cannot be checked against the disk (%s): full backup", cp, why))
		return nil, nil
	}
	return &parentSnapshot{reader: rd, manifest: pm, checkpoint: cp, probes: pr}, nil
}

// checkSound checks an incremental job's images against the blocks read before it
// (sound.go); it returns why the backup cannot be trusted, or "".
func (r *run) checkSound(ctx context.Context, images map[string]string, parent *parentSnapshot) string {
	for _, d := range r.disks {
		name := d.Target.Dev
		p := parent.probes[name]
		if p == nil {
			return "disk " + name + " was not checked"
		}
		ch, err := readChanges(ctx, images[name], false)
		if err != nil {
			return fmt.Sprintf("disk %s: %v", name, err)
		}
		if len(ch.dirty) != len(p.parent.Sum) {
			return fmt.Sprintf("disk %s has %d blocks, the previous snapshot %d", name, len(ch.dirty), len(p.parent.Sum))
		}
		if why := unsound(ch, p); why != "" {
			return "disk " + name + ": " + why
		}
	}
	return ""
}

// incompatible says why a parent snapshot cannot be built on, or "".
func (r *run) incompatible(pm *Manifest, cp string) string {
	switch {
	case pm.Checkpoint != cp:
		return "records checkpoint " + pm.Checkpoint
	case pm.UUID != r.live.UUID:
		return "is of another domain (UUID " + pm.UUID + ")"
	case pm.BlockSize != BlockSize:
		return fmt.Sprintf("has blocks of %d bytes", pm.BlockSize)
	case len(pm.Disks) != len(r.disks):
		return fmt.Sprintf("has %d disks, %d now", len(pm.Disks), len(r.disks))
	}
	for _, d := range r.disks {
		pd := pm.disk(d.Target.Dev)
		if pd == nil {
			return "has no disk " + d.Target.Dev
		}
		_, capacity, _, err := r.c.DomainGetBlockInfo(r.dom, d.Target.Dev, 0)
		if err != nil {
			return "cannot be compared: " + reason(err)
		}
		if int64(capacity) != pd.Size {
			return fmt.Sprintf("has disk %s of %d bytes, %d now", d.Target.Dev, pd.Size, capacity)
		}
	}
	return ""
}

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

// offlineBackup backs up a shut-off domain from its disk files: nothing writes to them, and
// qemu-img's lock keeps QEMU from starting on them meanwhile.
func (r *run) offlineBackup(ctx context.Context) (map[string]string, error) {
	r.m.Level, r.m.Generation, r.m.Consistency = Full, 1, Offline
	r.note("offline: the domain is " + r.m.State + ", so its disk files were read at rest (full backup)")
	images := map[string]string{}
	for _, d := range r.disks {
		src, err := r.diskPath(d)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("disk %s of domain %q: %w (a remote hypervisor's disks must be reachable at the same path here)", d.Target.Dev, r.t.cfg.Domain, err)
		}
		img := filepath.Join(r.scratch, d.Target.Dev+".qcow2")
		args := []string{"convert", "-O", "qcow2"}
		if d.Driver.Type != "" {
			args = append(args, "-f", d.Driver.Type)
		}
		if _, err := qemuImg(ctx, append(args, src, img)...); err != nil {
			return nil, fmt.Errorf("disk %s of domain %q: %w", d.Target.Dev, r.t.cfg.Domain, err)
		}
		images[d.Target.Dev] = img
	}
	return images, nil
}

// diskPath is the local path of a disk's data.
func (r *run) diskPath(d domxml.Disk) (string, error) { return diskPath(r.c, r.t.cfg.Domain, d) }

// buildTree turns the images into the snapshot's disk folders and returns what the
// writer stores.
func (r *run) buildTree(ctx context.Context, images map[string]string, parent *parentSnapshot) (targets.FilesSpec, error) {
	spec := targets.FilesSpec{Dir: r.tree, Paths: []string{"manifest.json", "domain.xml", "disks"}}
	if r.newCheckpoint != "" {
		spec.Tags = []string{"checkpoint=" + r.newCheckpoint}
	}
	chs := map[string]*changes{}
	var include []string
	for _, d := range r.disks {
		name := d.Target.Dev
		ch, err := readChanges(ctx, images[name], parent == nil)
		if err != nil {
			return spec, fmt.Errorf("disk %s: %w", name, err)
		}
		chs[name] = ch
		if parent != nil {
			include = append(include, partialIncludes(name, ch.partial)...)
		}
	}
	parentDir := filepath.Join(r.scratch, "parent")
	if parent != nil {
		spec.Parent = parent.reader.Snapshot().ID
		if err := parent.reader.RestoreTo(ctx, parentDir, include); err != nil {
			return spec, fmt.Errorf("reading the previous snapshot %.8s: %w", spec.Parent, err)
		}
	}
	for _, d := range r.disks {
		name := d.Target.Dev
		ch := chs[name]
		allocated := allocatedBytes(images[name])
		dm := DiskManifest{Name: name, Source: d.Location(), Format: d.Driver.Type, Size: ch.size,
			Blocks: blockCount(ch.size, BlockSize), ReadBytes: ch.bytes}
		var pmap *blockMap
		pdir := filepath.Join(parentDir, "disks", name)
		if parent != nil {
			var err error
			if pmap, err = readParentMap(pdir, parent.manifest.disk(name)); err != nil {
				return spec, fmt.Errorf("disk %s: %w", name, err)
			}
			for _, i := range ch.partial {
				dm.ParentBytes += pmap.blockLen(i)
			}
		}
		dir := filepath.Join(r.tree, "disks", name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return spec, err
		}
		m, st, err := buildDisk(ctx, dir, images[name], ch, pmap, pdir, r.m.Generation)
		if err != nil {
			return spec, fmt.Errorf("disk %s: %w", name, err)
		}
		// Data moves from the image and the previous blocks (each freed once copied) to
		// the block files: the most space the disk took at once is what there was at
		// the start or what there is at the end.
		dm.ScratchBytes = max(allocated+dm.ParentBytes, allocatedBytes(images[name])+allocatedTree(dir))
		_ = os.Remove(images[name])
		_ = os.RemoveAll(pdir)
		sum := sha256.Sum256(m.marshal())
		dm.MapSHA256 = hex.EncodeToString(sum[:])
		dm.BlocksWritten, dm.WrittenBytes = st.Written, st.WrittenBytes
		spec.Unmodified += st.Placeholders
		r.m.Disks = append(r.m.Disks, dm)
		r.log.Info("disk ready", "disk", name, "level", r.m.Level, "blocks", dm.Blocks, "written", st.Written,
			"read_bytes", dm.ReadBytes, "parent_bytes", dm.ParentBytes, "scratch_bytes", dm.ScratchBytes)
	}
	if parent == nil {
		spec.Unmodified = 0
	}
	return spec, nil
}

// readParentMap reads and checks the parent snapshot's block map of a disk.
func readParentMap(dir string, pd *DiskManifest) (*blockMap, error) {
	b, err := os.ReadFile(filepath.Join(dir, "map"))
	if err != nil {
		return nil, fmt.Errorf("the previous snapshot's block map: %w", err)
	}
	if sum := sha256.Sum256(b); pd == nil || hex.EncodeToString(sum[:]) != pd.MapSHA256 {
		return nil, errors.New("the previous snapshot's block map does not match its manifest")
	}
	return parseBlockMap(b)
}

// scratchFree is the least free space in the scratch folder's file system that
// counts as not full.
const scratchFree = 1 << 20

// scratchFull says, if the file system of the run's scratch folder is full, that it
// is and which folder, before err: restic and QEMU report the lack of space in their
// own words ("There were 15 errors"), or not at all.
func (r *run) scratchFull(err error) error {
	if r.scratch == "" {
		return err
	}
	var st syscall.Statfs_t
	if syscall.Statfs(r.scratch, &st) != nil {
		return err
	}
	free, total := int64(st.Bavail)*st.Bsize, int64(st.Blocks)*st.Bsize
	if free >= scratchFree && !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	return fmt.Errorf("the scratch folder %s is full (%s free of %s): give it more space or set libvirt.scratch_dir to a larger one: %w",
		r.t.cfg.scratchDir(), iec.Bytes(free), iec.Bytes(total), err)
}

// allocatedBytes is the space a file takes on disk.
func allocatedBytes(file string) int64 {
	var st syscall.Stat_t
	if syscall.Stat(file, &st) != nil {
		return 0
	}
	return st.Blocks * 512
}

// allocatedTree is the space the files below dir take on disk.
func allocatedTree(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			n += allocatedBytes(p)
		}
		return nil
	})
	return n
}

func (r *run) note(s string) {
	r.notes = append(r.notes, s)
	r.log.Info(s)
}

// summary is the run's notes: what kind of backup, then why.
func (r *run) summary() []string {
	var read, blocks, written int64
	for _, d := range r.m.Disks {
		read += d.ReadBytes
		blocks += int64(d.Blocks)
		written += int64(d.BlocksWritten)
	}
	head := fmt.Sprintf("%s backup of %d disk(s): %s read from the domain, %d of %d blocks changed", r.m.Level, len(r.m.Disks), iec.Bytes(read), written, blocks)
	if r.m.Parent != nil {
		head = fmt.Sprintf("%s, from checkpoint %s (snapshot %.8s)", head, r.m.Parent.Checkpoint, r.m.Parent.Snapshot)
	}
	return append([]string{head}, r.notes...)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

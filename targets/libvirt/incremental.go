package libvirt

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cadang/cadang/targets"
)

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

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
	"syscall"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cadang/cadang/internal/iec"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/libvirt/blockmap"
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
			Blocks: blockmap.Count(ch.size, BlockSize), ReadBytes: ch.bytes}
		var pmap *blockmap.Map
		pdir := filepath.Join(parentDir, "disks", name)
		if parent != nil {
			var err error
			if pmap, err = readParentMap(pdir, parent.manifest.disk(name)); err != nil {
				return spec, fmt.Errorf("disk %s: %w", name, err)
			}
			for _, i := range ch.partial {
				dm.ParentBytes += pmap.BlockLen(i)
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
		sum := sha256.Sum256(m.Marshal())
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
func readParentMap(dir string, pd *DiskManifest) (*blockmap.Map, error) {
	b, err := os.ReadFile(filepath.Join(dir, "map"))
	if err != nil {
		return nil, fmt.Errorf("the previous snapshot's block map: %w", err)
	}
	if sum := sha256.Sum256(b); pd == nil || hex.EncodeToString(sum[:]) != pd.MapSHA256 {
		return nil, errors.New("the previous snapshot's block map does not match its manifest")
	}
	return blockmap.Parse(b)
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

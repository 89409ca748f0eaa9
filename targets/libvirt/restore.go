package libvirt

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"syscall"

	golibvirt "github.com/digitalocean/go-libvirt"
	"golang.org/x/sys/unix"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/libvirt/blockmap"
	"github.com/cadang/cadang/targets/libvirt/domxml"
)

// domainNameRE is what cadang accepts as the name of a domain it defines.
var domainNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// Restore writes each disk of the snapshot as a standalone qcow2 file, <dev>.qcow2, and
// the domain's XML, domain.xml, into the folder req.To. With the option "define"
// (`cadang restore --define NAME`) it also defines, without starting it, a new domain
// of that name on the restored disks (see domxml.Define): at the target's hypervisor,
// or at the one the option "uri" names; with "start=true" it then starts it.
func (t *Target) Restore(ctx context.Context, r targets.Reader, req targets.RestoreRequest) error {
	o, err := restoreOptions(req.Options)
	if err != nil {
		return err
	}
	define := o.define
	uri := t.cfg.URI
	if o.uri != "" {
		uri = o.uri
	}
	m, err := readManifest(ctx, r)
	if err != nil {
		return err
	}
	var c *conn
	if define != "" {
		// Before anything is written: the new domain must not exist.
		if c, err = dial(ctx, uri); err != nil {
			return err
		}
		defer c.close()
		_, err := c.DomainLookupByName(define)
		switch {
		case err == nil:
			return fmt.Errorf("--define %s: a domain of that name already exists at %s", define, c.uri)
		case !isCode(err, golibvirt.ErrNoDomain):
			return fmt.Errorf("--define %s: %s", define, reason(contextErr(ctx, err)))
		}
	}
	_, statErr := os.Stat(req.To)
	if err := targets.PrepareDir(req.To, req.Force); err != nil {
		return err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// QEMU runs as its own user: a domain defined on these disks must reach them.
		if err := os.Chmod(req.To, 0o711); err != nil {
			return err
		}
	}
	log := r.Logger().With("domain", m.Domain, "snapshot", r.Snapshot().ID)
	if dir := unreachable(req.To); define != "" && dir != "" {
		log.Warn("QEMU may not reach the restored disks: a folder above them is closed to other users", "folder", dir)
	}
	domXML, err := readFile(ctx, r, "/domain.xml", 16<<20)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(req.To, "domain.xml"), domXML, 0o600); err != nil {
		return err
	}
	files := map[string]string{}
	for _, d := range m.Disks {
		file := filepath.Join(req.To, d.Name+".qcow2")
		if err := restoreDisk(ctx, r, d, file); err != nil {
			return fmt.Errorf("disk %s: %w", d.Name, err)
		}
		files[d.Name] = file
		log.Info("disk restored", "disk", d.Name, "file", file, "size", d.Size)
	}
	if define == "" {
		return nil
	}
	note := fmt.Sprintf("Restored by cadang from snapshot %.8s of domain %s (%s backup of %s, %s).",
		r.Snapshot().ID, m.Domain, m.Level, m.Time.Format("2006-01-02 15:04:05 MST"), m.Consistency)
	x, remarks, err := domxml.Define(string(domXML), define, note, files)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(req.To, define+".xml"), []byte(x), 0o600); err != nil {
		return err
	}
	dom, err := c.DomainDefineXMLFlags(x, golibvirt.DomainDefineValidate)
	if err != nil {
		return fmt.Errorf("disks restored to %s, but defining domain %s failed: %s", req.To, define, reason(contextErr(ctx, err)))
	}
	if !o.start {
		log.Info("domain defined (not started)", "name", define, "uri", c.uri, "changes", remarks)
		return nil
	}
	if err := c.DomainCreate(dom); err != nil {
		return fmt.Errorf("domain %s defined at %s on the disks restored to %s, but starting it failed: %s", define, c.uri, req.To, reason(contextErr(ctx, err)))
	}
	log.Info("domain defined and started", "name", define, "uri", c.uri, "changes", remarks)
	return nil
}

// RemoveRestored undoes a restore that defined a domain (the options "define" and
// "uri" as the restore had them): it destroys the domain if it runs and undefines it.
// A domain that is not there is no error. The disks are the caller's to remove (they
// are in the restore's folder).
func (t *Target) RemoveRestored(ctx context.Context, opts map[string]string) error {
	o, err := restoreOptions(opts)
	if err != nil {
		return err
	}
	if o.define == "" {
		return nil
	}
	uri := t.cfg.URI
	if o.uri != "" {
		uri = o.uri
	}
	return removeDomainAt(ctx, uri, o.define)
}

// restoreOpts are a restore's options.
type restoreOpts struct {
	define string // the name of a domain to define on the restored disks
	uri    string // the hypervisor to define it at; default the target's
	start  bool   // start the defined domain
}

// restoreOptions reads a restore's options: "define", the name of the domain to define
// on the restored disks; "uri", the hypervisor to define it at (default the target's);
// "start" (true or false), to start it once defined.
func restoreOptions(opts map[string]string) (o restoreOpts, err error) {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := opts[k]; k {
		case "define":
			o.define = v
		case "uri":
			var bad []string
			(&Config{URI: v, Domain: "-", Mode: "push", ScratchDir: "/"}).Validate(func(_, m string) { bad = append(bad, m) })
			if len(bad) > 0 {
				return o, fmt.Errorf("option uri: %s", bad[0])
			}
			o.uri = v
		case "start":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return o, fmt.Errorf("option start %q: true or false", v)
			}
			o.start = b
		default:
			return o, fmt.Errorf("libvirt restore has no option %q (it has: define, start, uri)", k)
		}
	}
	if _, ok := opts["define"]; ok && o.define == "" {
		return o, errors.New("--define needs the name of the new domain")
	}
	if o.define != "" && !domainNameRE.MatchString(o.define) {
		return o, fmt.Errorf("--define %q: a domain name is letters, digits, '.', '_', '+' and '-', at most 64", o.define)
	}
	if o.define == "" && (o.uri != "" || o.start) {
		return o, errors.New("options uri and start are for a domain defined on the restored disks: give define too")
	}
	return o, nil
}

// CheckRestore implements targets.RestoreChecker: it refuses, without changing
// anything, what Restore would refuse before reading the snapshot: an unknown option,
// a --define name that is empty or not a domain name, and a destination that is not
// an absolute path, holds data (without force), is not a folder, or cannot be
// written (a folder above it that is a file or closed to writing). Whether a domain
// of the --define name exists is asked of libvirtd by Restore itself, before it
// writes anything.
func (t *Target) CheckRestore(req targets.RestoreRequest) error {
	if _, err := restoreOptions(req.Options); err != nil {
		return err
	}
	if err := targets.CheckDir(req.To, req.Force); err != nil {
		return err
	}
	return checkWritable(req.To)
}

var _ targets.RestoreChecker = (*Target)(nil) // interface guard

// checkWritable says whether a restore can write into dir: into dir itself if it
// exists, else into the nearest folder above it that does, where it is created.
func checkWritable(dir string) error {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		switch {
		case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			if d == filepath.Dir(d) {
				return nil
			}
			continue
		case err != nil:
			return fmt.Errorf("restore destination %s: %w", dir, err)
		case !st.IsDir() && d == filepath.Clean(dir):
			return fmt.Errorf("restore destination %s is not a directory", dir)
		case !st.IsDir():
			return fmt.Errorf("restore destination %s cannot be created: %s is not a directory", dir, d)
		}
		if err := unix.Access(d, unix.W_OK|unix.X_OK); err != nil {
			if d == filepath.Clean(dir) {
				return fmt.Errorf("restore destination %s is not writable: %v", dir, err)
			}
			return fmt.Errorf("restore destination %s cannot be created: folder %s is not writable: %v", dir, d, err)
		}
		return nil
	}
}

// readFile reads a small file of the snapshot.
func readFile(ctx context.Context, r targets.Reader, p string, max int64) ([]byte, error) {
	rc, err := r.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max))
	if err != nil {
		return nil, fmt.Errorf("snapshot %.8s: %s: %w", r.Snapshot().ID, p, err)
	}
	return b, nil
}

// restoreDisk writes a disk of the snapshot to file as a standalone qcow2: its block
// files, each checked against the digest in the block map, are put together into a
// sparse raw image beside file, which qemu-img then converts.
func restoreDisk(ctx context.Context, r targets.Reader, d DiskManifest, file string) error {
	mb, err := readFile(ctx, r, "/disks/"+d.Name+"/map", 1<<30)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(mb); hex.EncodeToString(sum[:]) != d.MapSHA256 {
		return errors.New("the block map does not match the manifest: the snapshot is damaged")
	}
	bm, err := blockmap.Parse(mb)
	if err != nil {
		return err
	}
	if bm.Size != d.Size {
		return fmt.Errorf("the block map is for %d bytes, the manifest says %d", bm.Size, d.Size)
	}
	raw := filepath.Join(filepath.Dir(file), "."+filepath.Base(file)+".raw.partial")
	f, err := os.OpenFile(raw, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(raw)
	defer f.Close()
	if err := f.Truncate(bm.Size); err != nil {
		return err
	}
	if err := readBlocks(ctx, r, d.Name, bm, f); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if _, err := qemuImg(ctx, "convert", "-f", "raw", "-O", "qcow2", raw, file); err != nil {
		return err
	}
	return os.Chmod(file, 0o600)
}

// readBlocks writes the disk's blocks, streamed from the snapshot as a tar archive, at
// their places in f.
func readBlocks(ctx context.Context, r targets.Reader, disk string, bm *blockmap.Map, f *os.File) error {
	rc, err := r.Open(ctx, "/disks/"+disk+"/blocks")
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	seen := make([]bool, bm.Blocks())
	missing := bm.Blocks()
	buf := make([]byte, bm.BlockSize)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the blocks: %w", contextErr(ctx, err))
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		i, err := strconv.Atoi(path.Base(h.Name))
		if err != nil || i < 0 || i >= len(seen) || seen[i] || h.Typeflag != tar.TypeReg || h.Size != bm.BlockLen(i) {
			return fmt.Errorf("unexpected file %s in the snapshot's blocks", h.Name)
		}
		b := buf[:h.Size]
		if _, err := io.ReadFull(tr, b); err != nil {
			return fmt.Errorf("block %d: %w", i, contextErr(ctx, err))
		}
		if sha256.Sum256(b) != bm.Sum[i] {
			return fmt.Errorf("block %d does not match its digest: the snapshot is damaged", i)
		}
		if !bytes.Equal(b, zeros[:len(b)]) {
			if _, err := f.WriteAt(b, int64(i)*bm.BlockSize); err != nil {
				return err
			}
		}
		seen[i] = true
		missing--
	}
	if missing > 0 {
		return fmt.Errorf("%d of %d blocks are missing from the snapshot", missing, len(seen))
	}
	return nil
}

// unreachable returns the first folder at or above dir that users other than its owner
// cannot pass through, or "". QEMU runs as its own user (libvirt-qemu): it cannot open
// the disks of a domain defined on them below such a folder.
func unreachable(dir string) string {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
			return d
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}

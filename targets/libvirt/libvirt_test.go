package libvirt

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
)

// A running domain is backed up in full, then incrementally after writes into its disk;
// each snapshot restores to the disk as it was at its backup.
func TestFullThenIncremental(t *testing.T) {
	d := testenv.NewDomain(t, testenv.DomainOptions{Seed: 1})
	scratch := scratchFolder(t)
	repo := targettest.NewRepo(t)
	tg := newTarget(t, testConfig(d, scratch))

	state1 := d.Keep()
	m1, w1, notes1, err := backup(t, repo, tg)
	if err != nil {
		t.Fatal(err)
	}
	if m1.Level != Full || m1.Consistency != CrashConsistent || m1.Checkpoint == "" || len(m1.Disks) != 1 {
		t.Fatalf("first backup: %+v", m1)
	}
	if got := m1.Disks[0]; got.Size != d.Size || got.ReadBytes != d.Size || got.BlocksWritten != got.Blocks || got.Blocks != int(d.Size/BlockSize) {
		t.Errorf("a full backup reads and writes the whole disk: %+v", got)
	}
	if !containsPrefix(notes1, "crash-consistent") || !containsPrefix(notes1, "no checkpoint of an earlier backup") {
		t.Errorf("notes do not say why full and crash-consistent: %v", notes1)
	}
	assertScratchEmpty(t, scratch)
	if cps := d.Checkpoints(); !reflect.DeepEqual(cps, []string{m1.Checkpoint}) {
		t.Errorf("checkpoints after the first backup: %v, want [%s]", cps, m1.Checkpoint)
	}
	assertSame(t, state1, filepath.Join(restoreTo(t, repo, tg, w1.Snapshot, nil), "vda.qcow2"))

	// 6 MiB in three places: across two blocks, over five blocks, and zeros over a
	// whole block. Blocks 1, 2, 30 and 34 change in part.
	d.Write(0xcd, 1<<20+64<<10, 1<<20)
	d.Write(0x5a, 30<<20+512<<10, 4<<20)
	d.Write(0x00, 8<<20, 1<<20)
	const changed, touched, partial = 6 << 20, 8, 4
	state2 := d.Keep()
	m2, w2, notes2, err := backup(t, repo, tg)
	if err != nil {
		t.Fatal(err)
	}
	assertScratchEmpty(t, scratch)
	if m2.Level != Incremental || m2.Parent == nil || m2.Parent.Checkpoint != m1.Checkpoint || m2.Parent.Snapshot != w1.Snapshot || m2.Generation != 2 {
		t.Fatalf("second backup is not incremental from the first: %+v", m2)
	}
	dm := m2.Disks[0]
	if dm.ReadBytes != changed || dm.BlocksWritten != touched || dm.ParentBytes != partial*BlockSize {
		t.Errorf("incremental backup read %d bytes from the domain and %d from the repository, and wrote %d blocks; want %d, %d and %d",
			dm.ReadBytes, dm.ParentBytes, dm.BlocksWritten, changed, partial*BlockSize, touched)
	}
	// Scratch holds the changed clusters, then the blocks they touch (with the previous
	// content of those changed in part), and qcow2 metadata: not the disk.
	if limit := int64(changed + partial*BlockSize + 1<<20); dm.ScratchBytes > limit || dm.ScratchBytes < changed {
		t.Errorf("incremental backup took %d bytes of scratch for %d changed of a %d-byte disk (limit %d)", dm.ScratchBytes, changed, d.Size, limit)
	}
	if unchanged := uint64(dm.Blocks - touched); w2.Summary.FilesUnmodified < unchanged || w2.Summary.TotalBytesProcessed < uint64(d.Size) {
		t.Errorf("restic should have taken %d blocks from the first snapshot unread: %+v", unchanged, w2.Summary)
	}
	t.Logf("incremental: %d bytes read from the domain, %d from the previous snapshot, %d bytes of scratch, %d added to the repository",
		dm.ReadBytes, dm.ParentBytes, dm.ScratchBytes, w2.Summary.DataAdded)
	if !strings.HasPrefix(notes2[0], "incremental backup") {
		t.Errorf("notes: %v", notes2)
	}
	if cps := d.Checkpoints(); !reflect.DeepEqual(cps, []string{m2.Checkpoint}) {
		t.Errorf("checkpoints after the second backup: %v, want only the new one %s", cps, m2.Checkpoint)
	}

	// Restores: the second state, then the first one still.
	assertSame(t, state2, filepath.Join(restoreTo(t, repo, tg, w2.Snapshot, nil), "vda.qcow2"))
	restored1 := restoreTo(t, repo, tg, w1.Snapshot, nil)
	assertSame(t, state1, filepath.Join(restored1, "vda.qcow2"))
	if out := testenv.Run(t, "qemu-img", "info", filepath.Join(restored1, "vda.qcow2")); strings.Contains(out, "backing file") {
		t.Errorf("restored disk is not standalone:\n%s", out)
	}
	if x, err := os.ReadFile(filepath.Join(restored1, "domain.xml")); err != nil || !strings.Contains(string(x), "<name>"+d.Name+"</name>") {
		t.Errorf("domain.xml not restored: %v", err)
	}

	// Nothing changed: nothing read from the domain, nothing written.
	m3, _, _, err := backup(t, repo, tg)
	if err != nil {
		t.Fatal(err)
	}
	if m3.Level != Incremental || m3.Disks[0].ReadBytes != 0 || m3.Disks[0].BlocksWritten != 0 || m3.Generation != 3 {
		t.Errorf("backup of an unchanged disk: %+v", m3.Disks[0])
	}
	// The guest's disk is as the test wrote it: backups changed nothing.
	d.HMP(`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "flush"`)
	assertSame(t, state2, d.Disk)
	if s := d.State(); s != "running" {
		t.Errorf("domain is %s after the backups", s)
	}
}

func containsPrefix(notes []string, prefix string) bool {
	return slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, prefix) })
}

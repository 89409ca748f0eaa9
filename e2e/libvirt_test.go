package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets/libvirt"
)

// A running VM through the cadang binary: a full backup, an incremental one after
// writes into the guest's disk, a restore of each that qemu-img finds equal to the disk
// at its backup, a restore that defines a new domain which starts; and the failures a
// user meets first, each a failed run with libvirt's reason.
func TestLibvirtVM(t *testing.T) {
	d := testenv.NewDomain(t, testenv.DomainOptions{Seed: 11, ExtraDevices: `<interface type='user'><model type='virtio'/></interface>`})
	w := newWorld(t)
	w.config(pathDRC(w) + fmt.Sprintf(`agencies:
  - {id: diskominfo, name: Dinas Komunikasi dan Informatika}
targets:
  - name: web01-vm
    agency: diskominfo
    kind: libvirt
    libvirt: {domain: %s}
  - name: ghost-vm
    agency: diskominfo
    kind: libvirt
    libvirt: {domain: cadang-no-such-vm}
  - name: down-vm
    agency: diskominfo
    kind: libvirt
    libvirt: {uri: "qemu+unix:///system?socket=/run/cadang-no-libvirtd/sock", domain: %s}
`, d.Name, d.Name))
	w.must("config", "check")
	w.startDaemon()

	state1 := d.Keep()
	first, r := w.backupJSON("web01-vm")
	if r.code != 0 || first.Status != "succeeded" {
		t.Fatalf("first backup: %s", r)
	}
	var m1 libvirt.Manifest
	mustJSON(t, string(first.Manifest), &m1)
	if m1.Level != libvirt.Full || m1.Consistency != libvirt.CrashConsistent || !strings.HasPrefix(first.Notes[0], "full backup") {
		t.Errorf("first backup: %+v, notes %v", m1, first.Notes)
	}
	d.Write(0xab, 20<<20, 3<<20)
	state2 := d.Keep()
	second, r := w.backupJSON("web01-vm")
	if r.code != 0 || second.Status != "succeeded" {
		t.Fatalf("second backup: %s", r)
	}
	var m2 libvirt.Manifest
	mustJSON(t, string(second.Manifest), &m2)
	if m2.Level != libvirt.Incremental || m2.Disks[0].ReadBytes != 3<<20 || !strings.HasPrefix(second.Notes[0], "incremental backup") {
		t.Errorf("second backup is not incremental: %+v, notes %v", m2, second.Notes)
	}
	if second.BytesAdded >= uint64(d.Size)/2 {
		t.Errorf("the incremental backup added %d bytes to the repository for 3 MiB changed", second.BytesAdded)
	}
	// The run's scratch folder is gone from the default scratch dir.
	if left, _ := filepath.Glob(filepath.Join(libvirt.DefaultScratchDir, "web01-vm-*")); len(left) > 0 {
		t.Errorf("scratch left behind: %v", left)
	}

	dest, err := os.MkdirTemp("", "cadang-e2e-restore-") // QEMU must reach the disks
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dest) })
	if err := os.Chmod(dest, 0o711); err != nil {
		t.Fatal(err)
	}
	w.must("restore", "web01-vm", "--snapshot", first.SnapshotID[:8], "--to", filepath.Join(dest, "first"))
	if ok, msg := testenv.Identical(t, state1, filepath.Join(dest, "first", "vda.qcow2")); !ok {
		t.Errorf("first snapshot restored: %s", msg)
	}
	name := d.Name + "-dr"
	t.Cleanup(func() { testenv.RemoveDomain(t, d.L, name) })
	r = w.must("restore", "web01-vm", "--to", filepath.Join(dest, "latest"), "--define", name)
	if !strings.Contains(r.stdout, "succeeded") {
		t.Errorf("restore --define: %s", r)
	}
	if ok, msg := testenv.Identical(t, state2, filepath.Join(dest, "latest", "vda.qcow2")); !ok {
		t.Errorf("latest snapshot restored: %s", msg)
	}
	virsh := func(args ...string) string {
		return strings.TrimSpace(testenv.Run(t, "virsh", append([]string{"-c", testenv.LibvirtURI}, args...)...))
	}
	if s := virsh("domstate", name); s != "shut off" {
		t.Errorf("defined domain is %s", s)
	}
	if x := virsh("dumpxml", name); strings.Contains(x, "<interface") {
		t.Errorf("defined domain has a network interface:\n%s", x)
	}
	virsh("start", name)
	if s := virsh("domstate", name); s != "running" {
		t.Errorf("restored domain is %s after start", s)
	}

	for target, want := range map[string]string{
		"ghost-vm": "Domain not found: no domain with matching name 'cadang-no-such-vm'",
		"down-vm":  "cannot connect (is libvirtd running?)",
	} {
		ri, r := w.backupJSON(target)
		if r.code != 1 || ri.Status != "failed" || !strings.Contains(ri.Error, want) || ri.SnapshotID != "" {
			t.Errorf("backup of %s: want a failed run saying %q:\n%s", target, want, r)
		}
		if strings.Contains(r.stderr+r.stdout, "panic") {
			t.Errorf("backup of %s: %s", target, r)
		}
	}
	var snaps []api.SnapshotInfo
	if err := json.Unmarshal([]byte(w.must("snapshots", "web01-vm", "--json").stdout), &snaps); err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 || snaps[0].Status != "good" || snaps[1].Status != "good" {
		t.Errorf("snapshots: %+v", snaps)
	}
	if s := d.State(); s != "running" {
		t.Errorf("the original domain is %s", s)
	}
}

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets/libvirt"
)

// A VM backed up by the agent of its hypervisor (a `cadang agent` process beside the
// controller, libvirt on qemu:///system): the first backup is full, the second one,
// after writes into the guest's disk, is incremental (the agent reads the previous
// snapshot's manifest and block probes from the DRC, as the daemon does) and reads only
// the changed blocks; both runs name the agent; a restore on the controller gives the
// disk as it was at the second backup; nothing is left in the scratch folders.
func TestLibvirtOnAgent(t *testing.T) {
	d := testenv.NewDomain(t, testenv.DomainOptions{Seed: 13})
	w := newWorld(t)
	listen := freePort(t)
	dir, entry := enrollAgent(t, w, "hyp-01", "", "nats://"+listen)
	w.config(pathDRC(w)+fmt.Sprintf(`agencies:
  - {id: diskominfo, name: Dinas Komunikasi dan Informatika}
targets:
  - {name: web01-vm, agency: diskominfo, kind: libvirt, agent: hyp-01, libvirt: {domain: %s}}
`, d.Name), "cluster:\n  listen: "+listen+"\n  agents:\n"+entry)
	w.must("config", "check")
	w.must("init")
	w.startDaemon()
	startAgent(t, dir)
	waitFor(t, "the agent up", 30*time.Second, func() (bool, string) {
		r := w.cadang("agents", "--json")
		var agents []struct {
			Name string
			Up   bool
		}
		if r.code == 0 {
			mustJSON(t, r.stdout, &agents)
		}
		return len(agents) == 1 && agents[0].Up, r.String()
	})

	first, r := w.backupJSON("web01-vm")
	if r.code != 0 || first.Status != api.Succeeded || first.Agent != "hyp-01" {
		t.Fatalf("first backup: agent %q: %s\n%s", first.Agent, r, w.log())
	}
	var m1 libvirt.Manifest
	mustJSON(t, string(first.Manifest), &m1)
	if m1.Level != libvirt.Full || len(first.Notes) == 0 || !strings.HasPrefix(first.Notes[0], "full backup") {
		t.Errorf("first backup: %+v, notes %v", m1, first.Notes)
	}
	d.Write(0xcd, 24<<20, 2<<20)
	state2 := d.Keep()
	second, r := w.backupJSON("web01-vm")
	if r.code != 0 || second.Status != api.Succeeded || second.Agent != "hyp-01" {
		t.Fatalf("second backup: agent %q: %s", second.Agent, r)
	}
	var m2 libvirt.Manifest
	mustJSON(t, string(second.Manifest), &m2)
	if m2.Level != libvirt.Incremental || len(m2.Disks) != 1 || m2.Disks[0].ReadBytes != 2<<20 || !strings.HasPrefix(second.Notes[0], "incremental backup") {
		t.Errorf("second backup on the agent is not incremental: %+v, notes %v", m2, second.Notes)
	}
	if second.BytesAdded >= uint64(d.Size)/2 {
		t.Errorf("the incremental backup added %d bytes to the repository for 2 MiB changed", second.BytesAdded)
	}

	// Restores run on the controller, from the DRC the agent wrote to.
	dest := filepath.Join(w.dir, "restored")
	w.must("restore", "web01-vm", "--to", dest)
	if ok, msg := testenv.Identical(t, state2, filepath.Join(dest, "vda.qcow2")); !ok {
		t.Errorf("the agent's incremental snapshot restored: %s", msg)
	}
	for _, pattern := range []string{filepath.Join(libvirt.DefaultScratchDir, "web01-vm-*"), filepath.Join(dir, "scratch", "run-*")} {
		if left, _ := filepath.Glob(pattern); len(left) > 0 {
			t.Errorf("scratch left behind: %v", left)
		}
	}
	if s := d.State(); s != "running" {
		t.Errorf("the domain is %s after its backups", s)
	}
}

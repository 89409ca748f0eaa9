package libvirt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
)

// --define gives a new domain, not started, on the restored disks, with a new name and
// UUID and no network; it starts beside the original.
func TestRestoreDefine(t *testing.T) {
	d := testenv.NewDomain(t, testenv.DomainOptions{Seed: 6, ExtraDevices: `
    <interface type='user'><mac address='52:54:00:12:34:56'/><model type='virtio'/></interface>
    <graphics type='vnc' port='5977' autoport='no' listen='127.0.0.1'/>`})
	scratch := scratchFolder(t)
	repo := targettest.NewRepo(t)
	tg := newTarget(t, testConfig(d, scratch))
	state := d.Keep()
	_, w, _, err := backup(t, repo, tg)
	if err != nil {
		t.Fatal(err)
	}

	name := d.Name + "-restored"
	t.Cleanup(func() { testenv.RemoveDomain(t, d.L, name) })
	parent, err := os.MkdirTemp("", "cadang-restored-") // QEMU must reach the disks
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o711); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(parent, "vm")
	req := targets.RestoreRequest{To: dest, Options: map[string]string{"define": name}}
	if err := tg.Restore(context.Background(), repo.Reader(t, w.Snapshot), req); err != nil {
		t.Fatal(err)
	}
	assertSame(t, state, filepath.Join(dest, "vda.qcow2"))
	virsh := func(args ...string) string {
		return testenv.Run(t, "virsh", append([]string{"-c", testenv.LibvirtURI}, args...)...)
	}
	if s := strings.TrimSpace(virsh("domstate", name)); s != "shut off" {
		t.Fatalf("defined domain is %q, want shut off (defined, not started)", s)
	}
	x := virsh("dumpxml", name)
	orig := virsh("dumpxml", d.Name)
	for _, bad := range []string{"<interface", "52:54:00:12:34:56", "5977", d.Disk, uuidOf(orig)} {
		if strings.Contains(x, bad) {
			t.Errorf("defined domain still has %q:\n%s", bad, x)
		}
	}
	if !strings.Contains(x, filepath.Join(dest, "vda.qcow2")) || !strings.Contains(x, "<description>Restored by cadang") {
		t.Errorf("defined domain is not on the restored disk:\n%s", x)
	}
	virsh("start", name)
	if s := strings.TrimSpace(virsh("domstate", name)); s != "running" {
		t.Fatalf("restored domain is %q after start", s)
	}
	if s := d.State(); s != "running" {
		t.Errorf("original domain is %s", s)
	}

	// The name is taken now: refused before anything is written.
	req.To = filepath.Join(t.TempDir(), "again")
	err = tg.Restore(context.Background(), repo.Reader(t, w.Snapshot), req)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("defining an existing name: %v", err)
	}
	if _, serr := os.Stat(req.To); !os.IsNotExist(serr) {
		t.Errorf("a refused restore wrote %s", req.To)
	}
}

func uuidOf(xml string) string {
	_, rest, _ := strings.Cut(xml, "<uuid>")
	u, _, _ := strings.Cut(rest, "</uuid>")
	return u
}

package libvirt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
)

// With a real guest whose QEMU guest agent is connected (a small Linux with its file
// system on vda), backups are app-consistent: the agent froze the file system while
// the job started and thawed it after, also when the job could not start. The
// restored disk holds a clean file system, and a domain defined on it boots and mounts
// it.
func TestGuestAgent(t *testing.T) {
	d := testenv.NewDomain(t, testenv.DomainOptions{Guest: true})
	testenv.WaitAgent(t, d.L, d.Name)
	scratch := scratchFolder(t)
	repo := targettest.NewRepo(t)
	tg := newTarget(t, testConfig(d, scratch))
	thawed := func(t *testing.T) {
		t.Helper()
		if s := testenv.Agent(t, d.Name, `{"execute":"guest-fsfreeze-status"}`); s != `{"return":"thawed"}` {
			t.Errorf("guest file systems after the backup: %s", s)
		}
	}

	m, w, notes, err := backup(t, repo, tg)
	if err != nil {
		t.Fatal(err)
	}
	if m.Consistency != AppConsistent || !containsPrefix(notes, "app-consistent: the guest agent froze 1 file system(s)") {
		t.Errorf("backup with a connected agent: %s, %v", m.Consistency, notes)
	}
	thawed(t)

	// A job that cannot start (QEMU cannot reach this scratch folder) thaws too.
	closed := filepath.Join(t.TempDir(), "closed")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	bad := testConfig(d, closed)
	if _, _, _, err := backup(t, repo, newTarget(t, bad)); err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("backup into a folder QEMU cannot reach: %v", err)
	}
	thawed(t)

	// The restored disk's file system is clean and holds what the guest wrote.
	dir := restoreTo(t, repo, tg, w.Snapshot, nil)
	raw := filepath.Join(t.TempDir(), "vda.raw")
	testenv.Run(t, "qemu-img", "convert", "-O", "raw", filepath.Join(dir, "vda.qcow2"), raw)
	if out, err := exec.Command("e2fsck", "-fn", raw).CombinedOutput(); err != nil {
		t.Errorf("e2fsck of the restored disk: %v\n%s", err, out)
	}
	if out := testenv.Run(t, "debugfs", "-R", "cat /hello", raw); !strings.Contains(out, "cadang test guest") {
		t.Errorf("restored file system: /hello is %q", out)
	}

	// Incremental backups are app-consistent too.
	m2, w2, _, err := backup(t, repo, tg)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Level != Incremental || m2.Consistency != AppConsistent {
		t.Errorf("second backup: %s, %s", m2.Level, m2.Consistency)
	}
	thawed(t)

	// A drill of the app-consistent snapshot boots it isolated, and its agent answers.
	var checks []targets.DrillCheck
	env := &targets.DrillEnv{Scratch: t.TempDir(), Name: "cadang_drill_agent", BootSeconds: 2,
		Check: func(c targets.DrillCheck) { checks = append(checks, c) }, Restored: func(int64) {}}
	if err := runDrill(t, tg.DrillSteps(repo.Reader(t, w.Snapshot), env), env); err != nil {
		t.Errorf("drill: %v", err)
	}
	if len(checks) == 0 || checks[len(checks)-1].Checked().String() != "guest agent answers (guest-ping)" || !checks[len(checks)-1].Passed {
		t.Errorf("drill checks: %+v", checks)
	}
	for _, n := range testenv.DomainNames(t, d.L) {
		if strings.HasPrefix(n, "cadang-drill-agent") { // its own: other packages' drills may run meanwhile
			t.Errorf("the drill left domain %s", n)
		}
	}

	// A domain defined on the restored disks boots and mounts them.
	name := d.Name + "-dr"
	t.Cleanup(func() { testenv.RemoveDomain(t, d.L, name) })
	dest, err := os.MkdirTemp("", "cadang-restored-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dest) })
	if err := os.Chmod(dest, 0o711); err != nil {
		t.Fatal(err)
	}
	req := targets.RestoreRequest{To: filepath.Join(dest, "vm"), Options: map[string]string{"define": name}}
	if err := tg.Restore(context.Background(), repo.Reader(t, w2.Snapshot), req); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "virsh", "-c", testenv.LibvirtURI, "start", name)
	testenv.WaitAgent(t, d.L, name)
	if got := guestFile(t, name, "/mnt/hello"); got != "cadang test guest\n" {
		t.Errorf("the restored guest reads /mnt/hello as %q", got)
	}
}

// guestFile reads a file in a guest through its agent.
func guestFile(t *testing.T, dom, path string) string {
	t.Helper()
	var open struct{ Return int }
	if err := json.Unmarshal([]byte(testenv.Agent(t, dom, fmt.Sprintf(`{"execute":"guest-file-open","arguments":{"path":%q}}`, path))), &open); err != nil {
		t.Fatal(err)
	}
	var read struct {
		Return struct {
			Buf string `json:"buf-b64"`
		}
	}
	if err := json.Unmarshal([]byte(testenv.Agent(t, dom, fmt.Sprintf(`{"execute":"guest-file-read","arguments":{"handle":%d}}`, open.Return))), &read); err != nil {
		t.Fatal(err)
	}
	testenv.Agent(t, dom, fmt.Sprintf(`{"execute":"guest-file-close","arguments":{"handle":%d}}`, open.Return))
	b, err := base64.StdEncoding.DecodeString(read.Return.Buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

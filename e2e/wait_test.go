package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Ctrl-C at `cadang backup --wait` stops the waiting, not the backup: the client says
// that the run goes on, names it and how to cancel it, and exits 4; the run succeeds.
// `cadang unlock` runs through the CLI, refuses --all without a confirmation, and
// names an unknown agency.
func TestInterruptedWaitAndUnlock(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	w.config(fmt.Sprintf(`drcs: [{name: local, role: primary, path: %q}]
agencies: [{id: dinkes, name: Dinas Kesehatan}]
targets:
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [%q]}, hooks: {before: [[sleep, "4"]]}}
`, filepath.Join(w.dir, "drc"), src))
	w.startDaemon()

	cmd := exec.Command(cadangBin, "backup", "portal-files", "--wait")
	cmd.Env = append(os.Environ(), "CADANG_CONFIG="+w.cfgFile)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if runs := w.runs("portal-files"); len(runs) == 1 && runs[0].Status == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backup did not start: %+v", w.runs("portal-files"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	id := w.runs("portal-files")[0].ID
	t.Logf("after Ctrl-C: exit %d (%v)\nstdout: %s\nstderr: %s", code, err, out.String(), errb.String())
	want := fmt.Sprintf("stopped waiting: run %d goes on in the daemon; follow with `cadang runs`, stop with `cadang cancel %d`", id, id)
	if code != 4 || !strings.Contains(errb.String(), want) || strings.Contains(out.String()+errb.String(), "context canceled") {
		t.Errorf("Ctrl-C at backup --wait: exit %d, stderr %q; want exit 4 and %q", code, errb.String(), want)
	}
	deadline = time.Now().Add(2 * time.Minute)
	for {
		runs := w.runs("portal-files")
		if runs[0].Status == "succeeded" {
			break
		}
		if runs[0].Status != "running" && runs[0].Status != "queued" || time.Now().After(deadline) {
			t.Fatalf("the backup after the client stopped waiting: %+v", runs[0])
		}
		time.Sleep(100 * time.Millisecond)
	}

	if r := w.cadang("unlock", "--all"); r.code != 2 || !strings.Contains(r.stderr, "confirm with --yes") {
		t.Errorf("unlock --all without a terminal or --yes: %s", r)
	}
	if r := w.cadang("unlock", "nobody"); r.code != 2 || !strings.Contains(r.stderr, `unknown agency "nobody"`) {
		t.Errorf("unlock of an unknown agency: %s", r)
	}
	r := w.must("unlock", "dinkes", "--wait")
	if !strings.Contains(r.stdout, "unlock of agency dinkes at drc local") || !strings.Contains(r.stdout, "note: no lock") {
		t.Errorf("unlock of a repository with no lock: %s", r)
	}
	// The client finds the daemon without a configuration: through $CADANG_SOCKET, else
	// at the packaged state dir's socket, which it names when nothing answers there.
	elsewhere := t.TempDir()
	if r := w.cadangIn(elsewhere, []string{"CADANG_SOCKET=" + filepath.Join(w.stateDir, "cadang.sock")}, "status"); r.code != 0 || !strings.Contains(r.stdout, "portal-files") {
		t.Errorf("status through $CADANG_SOCKET from another folder: %s", r)
	}
	if r := w.cadangIn(elsewhere, nil, "status"); r.code != 1 || !strings.Contains(r.stderr, "no cadang daemon is running (socket /var/lib/cadang/cadang.sock)") {
		t.Errorf("status with no configuration anywhere: %s", r)
	}

	r = w.must("unlock", "--all", "--yes", "--wait")
	if !strings.Contains(r.stdout, "note: requested by uid") {
		t.Errorf("unlock --all does not record who asked: %s", r)
	}
}

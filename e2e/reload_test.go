package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 13, point 16: a target added to the file is unknown until a reload; the CLI
// says that the daemon runs an older version of the file; `cadang reload` and SIGHUP
// apply it; a bad file is refused with every problem and the daemon goes on.
func TestReload(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(src+"/a.txt", []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	w.config(pathDRC(w) + fmt.Sprintf(oneTarget, src))
	w.startDaemon()
	base := readConfig(t, w)

	if r := w.cadang("status"); strings.Contains(r.stderr, "warning") {
		t.Errorf("a warning with the file as loaded: %s", r)
	}
	writeConfig(t, w, base+fmt.Sprintf("  - {name: second, agency: dinkes, kind: files, files: {paths: [%q]}}\n", src))
	r := w.cadang("backup", "second")
	if r.code == 0 || !strings.Contains(r.stderr, `unknown target "second"`) || !strings.Contains(r.stderr, "has changed since the daemon loaded it; apply it with `cadang reload`") {
		t.Fatalf("backup of a target only the file knows: %s", r)
	}

	r = w.must("reload")
	if !strings.Contains(r.stdout, "reloaded") || !strings.Contains(r.stdout, "targets added: second") {
		t.Errorf("cadang reload: %s", r)
	}
	if r := w.must("backup", "second", "--wait"); strings.Contains(r.stderr, "warning") {
		t.Errorf("a warning after the reload: %s", r)
	}
	if r := w.must("reload"); !strings.Contains(r.stdout, "unchanged") {
		t.Errorf("reload of an unchanged file: %s", r)
	}

	// A bad file: refused with its problems (exit 2); the daemon goes on with what it runs.
	writeConfig(t, w, base+"  - {name: third, agency: nobody, kind: files, files: {paths: [\"relative\"]}}\n")
	r = w.cadang("reload")
	if r.code != 2 || !strings.Contains(r.stderr, "configuration not reloaded") || !strings.Contains(r.stderr, "nobody") {
		t.Errorf("reload of a bad file: %s", r)
	}
	w.must("backup", "second", "--wait")

	// SIGHUP reloads too.
	writeConfig(t, w, base+fmt.Sprintf("  - {name: fourth, agency: dinkes, kind: files, files: {paths: [%q]}}\n", src))
	if err := w.daemon.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(w.log(), "configuration reloaded") || !strings.Contains(w.log(), "fourth") {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the configuration:\n%s", w.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.must("backup", "fourth", "--wait")
	// The reload by signal is in the audit log, as the API's are.
	waitFor(t, "the SIGHUP reload in the audit log", 30*time.Second, func() (bool, string) {
		out := w.must("audit", "--json").stdout
		return strings.Contains(out, `"action": "SIGHUP reload"`) || strings.Contains(out, `"action":"SIGHUP reload"`), out
	})
}

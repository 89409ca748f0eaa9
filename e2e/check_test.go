package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/internal/testenv"
)

// `status --check` and `drc status --check` are what monitoring calls: with a DRC that
// does not answer and a target whose last backup failed, each problem is one line and
// the exit status is 1; once every target has a good last backup and the unreachable
// DRC is gone from the configuration, one "ok" line and exit 0.
func TestCheckMode(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t) // nothing listens there
	w := newWorld(t)
	body := fmt.Sprintf(`agencies: [{id: dinkes, name: Dinas Kesehatan}]
targets:
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [%q]}}
  - {name: gone-files, agency: dinkes, kind: files, files: {paths: [%q]}}
`, src, filepath.Join(w.dir, "no-such-folder"))
	primary := fmt.Sprintf("drcs:\n  - {name: local, role: primary, path: %q}\n", filepath.Join(w.dir, "drc"))
	offsite := fmt.Sprintf("  - {name: offsite, role: secondary, s3: {endpoint: \"127.0.0.1:%d\", bucket: cadang, access_key: a, secret_key: b, insecure: true}}\n", port)
	w.config(primary + offsite + body)
	w.startDaemon()
	w.must("backup", "portal-files", "--wait")
	w.cadang("backup", "gone-files", "--wait")

	r := w.cadang("status", "--check")
	t.Logf("status --check:\n%s", r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 1 || !contains(lines, `target "gone-files": the last backup (run `, "failed: path "+filepath.Join(w.dir, "no-such-folder")+" does not exist") ||
		!contains(lines, `target "gone-files" has no good snapshot`) || !contains(lines, `drc "offsite" is unreachable`) ||
		contains(lines, `target "portal-files"`) {
		t.Errorf("status --check with a failed backup and a DRC down: %s", r)
	}
	r = w.cadang("drc", "status", "--check")
	if r.code != 1 || strings.Count(strings.TrimSpace(r.stdout), "\n") != 0 || !strings.HasPrefix(r.stdout, `drc "offsite" is unreachable`) {
		t.Errorf("drc status --check with a DRC down: %s", r)
	}

	w.stopDaemon(syscall.SIGTERM, time.Minute)
	w.config(primary + fmt.Sprintf(`agencies: [{id: dinkes, name: Dinas Kesehatan}]
targets: [{name: portal-files, agency: dinkes, kind: files, files: {paths: [%q]}}]
`, src))
	w.startDaemon()
	for _, args := range [][]string{{"status", "--check"}, {"drc", "status", "--check"}} {
		if r := w.cadang(args...); r.code != 0 || !strings.HasPrefix(r.stdout, "ok: ") || !strings.HasSuffix(r.stdout, ", no problem\n") {
			t.Errorf("%v on a healthy installation: %s", args, r)
		}
	}
}

// contains reports whether one of lines holds every part.
func contains(lines []string, parts ...string) bool {
	for _, l := range lines {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}

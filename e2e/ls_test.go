package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/engine/api"
)

// A snapshot can be looked into (`cadang ls`, a folder at a time) and restored in part
// (`restore --include`): only the chosen folder comes back.
func TestLsAndPartialRestore(t *testing.T) {
	src := t.TempDir()
	for name, data := range map[string]string{"index.html": "<h1>portal</h1>", "uploads/a.pdf": "pdf-a", "uploads/b.pdf": "pdf-b", "logs/x.log": "log"} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w := newWorld(t)
	w.config(pathDRC(w) + fmt.Sprintf(oneTarget, src))
	w.startDaemon()
	w.must("backup", "portal-files", "--wait")

	r := w.must("ls", "portal-files", "latest", src)
	for _, p := range []string{"index.html", "uploads", "logs"} {
		if !strings.Contains(r.stdout, filepath.Join(src, p)) {
			t.Errorf("ls of %s does not show %s:\n%s", src, p, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "a.pdf") {
		t.Errorf("ls lists below the folder:\n%s", r.stdout)
	}
	var entries []api.Entry
	if err := json.Unmarshal([]byte(w.must("ls", "portal-files", "latest", filepath.Join(src, "uploads"), "--json").stdout), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Path != filepath.Join(src, "uploads", "a.pdf") || entries[0].Type != "file" || entries[0].Size != 5 {
		t.Errorf("ls --json of uploads: %+v", entries)
	}
	if r := w.cadang("ls", "portal-files", "latest", filepath.Join(src, "nothing")); r.code != 2 || !strings.Contains(r.stderr, "holds no "+filepath.Join(src, "nothing")) {
		t.Errorf("ls of a folder the snapshot does not hold: %s", r)
	}

	dest := filepath.Join(w.dir, "part")
	w.must("restore", "portal-files", "--include", filepath.Join(src, "uploads"), "--to", dest)
	if b, err := os.ReadFile(filepath.Join(dest, src, "uploads", "b.pdf")); err != nil || string(b) != "pdf-b" {
		t.Errorf("the included folder was not restored: %q, %v", b, err)
	}
	for _, p := range []string{"index.html", "logs"} {
		if _, err := os.Stat(filepath.Join(dest, src, p)); !os.IsNotExist(err) {
			t.Errorf("%s was restored though not included (%v)", p, err)
		}
	}
	if r := w.cadang("restore", "portal-files", "--include", "uploads", "--to", filepath.Join(w.dir, "p2")); r.code != 2 || !strings.Contains(r.stderr, `include "uploads" must be an absolute path`) {
		t.Errorf("a relative include: %s", r)
	}
}

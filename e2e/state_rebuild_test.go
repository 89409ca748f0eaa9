package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// rebuildResult is the JSON `cadang state rebuild --json` prints (the fields read here).
type rebuildResult struct {
	DRC        string `json:"drc"`
	Catalog    string `json:"catalog"`
	MovedAside string `json:"moved_aside"`
	KeysCopied int    `json:"keys_copied"`
	Agencies   []struct {
		Agency  string `json:"agency"`
		Key     bool   `json:"key"`
		Read    bool   `json:"read"`
		Found   int    `json:"found"`
		Good    int    `json:"good"`
		Partial int    `json:"partial"`
		Bad     int    `json:"bad"`
		Skipped int    `json:"skipped"`
		Error   string `json:"error"`
	} `json:"agencies"`
}

// The site and its state dir are lost, no state bundle exists, the agencies' keys were
// kept apart: `cadang state rebuild` makes a state dir from the keys and the snapshots'
// tags at the DRC, on which the daemon lists the same snapshots with the same status
// and restores the same "latest".
func TestStateRebuild(t *testing.T) {
	w := newWorld(t)
	src := filepath.Join(w.dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(src, "a"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w.config(pathDRC(w) + fmt.Sprintf(oneTarget, src))
	w.startDaemon()
	for i, content := range []string{"first version", "second version"} {
		write(content)
		if ri, r := w.backupJSON("portal-files"); r.code != 0 || ri.Status != api.Succeeded {
			t.Fatalf("backup %d: %s", i+1, r)
		}
	}
	// A third backup that is not good: a source file restic cannot read (even as
	// root) makes it partial, tagged status=partial in the repository.
	write("third version, in a partial snapshot")
	w.config(pathDRC(w) + fmt.Sprintf(`
agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [%q, /proc/self/mem]}}
`, src))
	w.must("reload")
	if ri, r := w.backupJSON("portal-files"); ri.Status != api.Partial || ri.SnapshotID == "" {
		t.Fatalf("want a partial backup with a snapshot: %s", r)
	}
	var before []api.SnapshotInfo
	mustJSON(t, w.must("snapshots", "portal-files", "--json").stdout, &before)
	if len(before) != 3 {
		t.Fatalf("want 3 snapshots before the loss: %+v", before)
	}
	restoredBefore := filepath.Join(w.dir, "restored-before")
	w.must("restore", "portal-files", "--to", restoredBefore)
	want, err := os.ReadFile(filepath.Join(restoredBefore, src, "a"))
	if err != nil || string(want) != "second version" {
		t.Fatalf("restore of latest before the loss: %q, %v", want, err)
	}
	w.stopDaemon(syscall.SIGTERM, 2*time.Minute)

	// A snapshot made by hand with restic, without cadang's tags: skipped.
	keyFile := filepath.Join(w.stateDir, "keys", "local", "dinkes.key")
	hand := exec.Command(w.restic, "backup", "--stdin", "--stdin-filename", "note.txt", "--host", "operator", "-q")
	hand.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + w.dir, "RESTIC_REPOSITORY=" + filepath.Join(w.dir, "drc", "dinkes"),
		"RESTIC_PASSWORD_FILE=" + keyFile, "RESTIC_CACHE_DIR=" + filepath.Join(w.dir, "hand-cache")}
	hand.Stdin = strings.NewReader("by hand")
	if out, err := hand.CombinedOutput(); err != nil {
		t.Fatalf("restic backup by hand: %v\n%s", err, out)
	}

	// The keys were kept apart; the state dir is lost.
	keys := filepath.Join(w.dir, "saved-keys")
	copyTree(t, filepath.Join(w.stateDir, "keys"), keys)
	savedKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(w.stateDir); err != nil {
		t.Fatal(err)
	}

	// An unknown DRC: one line naming it and the DRCs there are.
	if r := w.cadang("state", "rebuild", "--from-drc", "dc9", "--keys", keys); r.code != 2 || !testenv.OneLine(r.stderr) ||
		!strings.Contains(r.stderr, `unknown drc "dc9" (the config has local)`) {
		t.Errorf("unknown drc: %s", r)
	}

	r := w.must("state", "rebuild", "--from-drc", "local", "--keys", keys, "--json")
	var res rebuildResult
	mustJSON(t, r.stdout, &res)
	if res.DRC != "local" || res.KeysCopied != 1 || len(res.Agencies) != 1 {
		t.Fatalf("rebuild: %+v", res)
	}
	if a := res.Agencies[0]; a.Agency != "dinkes" || !a.Key || !a.Read || a.Found != 4 || a.Good != 2 || a.Partial != 1 || a.Bad != 0 || a.Skipped != 1 || a.Error != "" {
		t.Errorf("dinkes: %+v", a)
	}
	if strings.Contains(r.stdout+r.stderr, strings.TrimSpace(string(savedKey))) {
		t.Error("rebuild printed a key")
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", st, err)
	} else if b, _ := os.ReadFile(keyFile); string(b) != string(savedKey) {
		t.Error("the key copied is not the key saved")
	}
	if st, err := os.Stat(filepath.Dir(keyFile)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("key folder: %v, %v", st, err)
	}

	// Again: refused without --force (one line); with it the catalog just built is
	// moved aside, not deleted. The plain output has a line per agency.
	if r := w.cadang("state", "rebuild", "--from-drc", "local", "--keys", keys); r.code != 2 || !testenv.OneLine(r.stderr) ||
		!strings.Contains(r.stderr, "holds a catalog already") {
		t.Errorf("rebuild over a catalog: %s", r)
	}
	r = w.must("state", "rebuild", "--from-drc", "local", "--keys", keys, "--force")
	if !strings.Contains(r.stdout, "old catalog moved aside to ") || !strings.Contains(r.stdout, "dinkes ") {
		t.Errorf("forced rebuild:\n%s", r)
	}
	if m, _ := filepath.Glob(filepath.Join(w.stateDir, "catalog.db.before-rebuild-*")); len(m) != 1 {
		t.Errorf("the old catalog is not kept aside: %v", m)
	}

	// The daemon on the rebuilt state dir.
	w.startDaemon()
	var after []api.SnapshotInfo
	mustJSON(t, w.must("snapshots", "portal-files", "--json").stdout, &after)
	if got, want := snapshotKeys(after), snapshotKeys(before); got != want {
		t.Errorf("snapshots after the rebuild:\n got %s\nwant %s", got, want)
	}
	restoredAfter := filepath.Join(w.dir, "restored-after")
	w.must("restore", "portal-files", "--to", restoredAfter)
	if got, err := os.ReadFile(filepath.Join(restoredAfter, src, "a")); err != nil || string(got) != string(want) {
		t.Errorf("restore of latest after the rebuild: %q, %v; want %q", got, err, want)
	}
	// A new run is numbered after the runs of the lost site.
	ri, rb := w.backupJSON("portal-files")
	var last uint64
	for _, s := range before {
		last = max(last, s.Run)
	}
	if ri.ID <= last {
		t.Errorf("the first run after the rebuild is %d, the lost site's went to %d: %s", ri.ID, last, rb)
	}
}

// snapshotKeys is the snapshots' ids, statuses and runs, sorted, for comparing.
func snapshotKeys(snaps []api.SnapshotInfo) string {
	var out []string
	for _, s := range snaps {
		out = append(out, fmt.Sprintf("%s:%s:run%d", s.ID, s.Status, s.Run))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// copyTree copies the files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

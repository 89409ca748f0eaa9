package engine

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/internal/testenv"
)

// A state dir is rebuilt from the keys alone: snapshots written by cadang are recorded
// with the status, kind and run of their tags, others are skipped and counted, an
// agency without a key is reported, and the keys are copied 0600 into 0700 folders.
func TestRebuild(t *testing.T) {
	restic := testenv.Restic(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "saved-keys")
	if err := os.MkdirAll(filepath.Join(keys, "local"), 0o755); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(keys, "local", "dinkes.key")
	if err := os.WriteFile(keyFile, []byte("s3cret-password\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(dir, "drc", "dinkes")
	resticRun := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(restic, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "RESTIC_REPOSITORY=" + repo,
			"RESTIC_PASSWORD_FILE=" + keyFile, "RESTIC_CACHE_DIR=" + filepath.Join(dir, "cache")}
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("restic %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	resticRun("", "init")
	snap := func(tags string) {
		args := []string{"backup", "--stdin", "--stdin-filename", "x.txt", "--host", "h"}
		if tags != "" {
			args = append(args, "--tag", tags)
		}
		resticRun("data "+tags, args...)
	}
	snap("cadang,target=web,agency=dinkes,kind=files,run=4")
	snap("cadang,target=web,agency=dinkes,kind=files,run=9,status=bad")
	snap("cadang,target=db,agency=dinkes,kind=postgres,run=6,status=partial")
	snap("")                                                  // by hand, no tags
	snap("cadang,target=web,agency=other,kind=files,run=2")   // another agency's
	snap("nightly,target=web,agency=dinkes,kind=files,run=3") // not cadang's

	cfg := testConfig(t, dir, `restic: {binary: "`+restic+`"}
drcs:
  - {name: local, role: primary, path: "$DIR/drc"}
agencies:
  - {id: dinkes}
  - {id: health}
targets:
  - {name: web, agency: dinkes, kind: stub, stub: {}}
`)
	ctx := context.Background()
	if _, err := Rebuild(ctx, cfg, RebuildOptions{FromDRC: "dc9", KeysDir: keys}, nil); !errors.Is(err, ErrRebuildRefused) ||
		err.Error() != `unknown drc "dc9" (the config has local)` {
		t.Fatalf("unknown drc: %v", err)
	}
	res, err := Rebuild(ctx, cfg, RebuildOptions{FromDRC: "local", KeysDir: keys}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Agencies) != 2 || res.KeysCopied != 1 {
		t.Fatalf("result: %+v", res)
	}
	d, h := res.Agencies[0], res.Agencies[1]
	if !d.Key || !d.Read || d.Found != 6 || d.Good != 1 || d.Bad != 1 || d.Partial != 1 || d.Skipped != 3 || d.Error != "" {
		t.Errorf("dinkes: %+v", d)
	}
	if h.Key || h.Read || !strings.Contains(h.Error, `no key for agency "health" at drc "local"`) {
		t.Errorf("health: %+v", h)
	}
	if !res.OK() {
		t.Errorf("every agency with a key was read, yet not OK: %+v", res)
	}
	for path, mode := range map[string]os.FileMode{
		filepath.Join(cfg.StateDir, "keys"):                        0o700 | os.ModeDir,
		filepath.Join(cfg.StateDir, "keys", "local"):               0o700 | os.ModeDir,
		filepath.Join(cfg.StateDir, "keys", "local", "dinkes.key"): 0o600,
	} {
		if st, err := os.Stat(path); err != nil || st.Mode() != mode {
			t.Errorf("%s: %v, %v; want %v", path, st.Mode(), err, mode)
		}
	}

	cat, err := catalog.Open(res.Catalog, 0)
	if err != nil {
		t.Fatal(err)
	}
	web, _ := cat.Snapshots("web")
	db, _ := cat.Snapshots("db")
	if len(web) != 2 || web[0].Status != catalog.SnapshotGood || web[0].RunID != 4 || web[1].Status != catalog.SnapshotBad ||
		web[1].RunID != 9 || web[0].Kind != "files" || web[0].DRC != "local" || web[0].Sites["local"].IsZero() {
		t.Errorf("web: %+v", web)
	}
	if len(db) != 1 || db[0].Status != catalog.SnapshotPartial {
		t.Errorf("db: %+v", db)
	}
	r := &catalog.Run{Op: "backup", Target: "web"}
	if err := cat.AddRun(r); err != nil || r.ID != 10 {
		t.Errorf("first run after the rebuild: %d, %v; want 10", r.ID, err)
	}
	cat.Close()

	// Again: refused, then with force the old catalog is moved aside.
	if _, err := Rebuild(ctx, cfg, RebuildOptions{FromDRC: "local", KeysDir: keys}, nil); !errors.Is(err, ErrRebuildRefused) ||
		!strings.Contains(err.Error(), "holds a catalog already") {
		t.Fatalf("second rebuild: %v", err)
	}
	res2, err := Rebuild(ctx, cfg, RebuildOptions{FromDRC: "local", KeysDir: keys, Force: true}, nil)
	if err != nil || res2.MovedAside == "" {
		t.Fatalf("forced rebuild: %+v, %v", res2, err)
	}
	if _, err := os.Stat(res2.MovedAside); err != nil {
		t.Errorf("the old catalog is gone: %v", err)
	}
	// Forced again at once (the same second): the first one moved aside stays.
	res2b, err := Rebuild(ctx, cfg, RebuildOptions{FromDRC: "local", KeysDir: keys, Force: true}, nil)
	if err != nil || res2b.MovedAside == res2.MovedAside {
		t.Fatalf("forced rebuild again: %+v, %v", res2b, err)
	}
	if m, _ := filepath.Glob(filepath.Join(cfg.StateDir, "catalog.db.before-rebuild-*")); len(m) != 2 {
		t.Errorf("catalogs moved aside: %v", m)
	}
	// A key that does not open the repository: the agency is not read.
	if err := os.WriteFile(keyFile, []byte("not-the-key-q7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res3, err := Rebuild(ctx, cfg, RebuildOptions{FromDRC: "local", KeysDir: keys, Force: true}, nil)
	if err != nil || res3.OK() || res3.Agencies[0].Read || !strings.Contains(res3.Agencies[0].Error, `agency "dinkes": restic snapshots at drc "local"`) {
		t.Fatalf("wrong key: %+v, %v", res3, err)
	}
	if strings.Contains(res3.Agencies[0].Error, "q7") || strings.Contains(res3.Agencies[0].Error, "s3cret") {
		t.Errorf("the error shows a key: %s", res3.Agencies[0].Error)
	}
	if b, _ := os.ReadFile(filepath.Join(cfg.StateDir, "keys", "local", "dinkes.key")); string(b) != "not-the-key-q7\n" {
		t.Error("the new key was not copied")
	}
	if m, _ := filepath.Glob(filepath.Join(cfg.StateDir, "keys", "local", "dinkes.key.before-rebuild-*")); len(m) != 1 {
		t.Errorf("the replaced key was not moved aside: %v", m)
	}
}

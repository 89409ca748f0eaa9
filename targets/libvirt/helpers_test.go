package libvirt

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
)

// scratchFolder returns a scratch_dir for a test (QEMU must reach it) and checks, when
// the test ends, that every run removed its folder there.
func scratchFolder(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cadang-scratch-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// assertScratchEmpty fails the test if a run left anything in dir.
func assertScratchEmpty(t testing.TB, dir string) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("scratch not cleaned: %s holds %v", dir, left)
	}
}

func testConfig(d *testenv.Domain, scratch string) *Config {
	return &Config{URI: testenv.LibvirtURI, Domain: d.Name, Mode: "push", ScratchDir: scratch}
}

func newTarget(t testing.TB, cfg *Config) *Target {
	t.Helper()
	var problems []string
	cfg.Validate(func(f, m string) { problems = append(problems, f+": "+m) })
	if len(problems) > 0 {
		t.Fatalf("config: %v", problems)
	}
	return &Target{name: "vm", cfg: *cfg, log: slog.Default()}
}

// backup runs one backup into repo and returns its manifest (nil if it failed).
func backup(t testing.TB, repo *targettest.Repo, tg *Target) (*Manifest, *targettest.Writer, []string, error) {
	t.Helper()
	return backupCtx(context.Background(), t, repo, tg)
}

func backupCtx(ctx context.Context, t testing.TB, repo *targettest.Repo, tg *Target) (*Manifest, *targettest.Writer, []string, error) {
	t.Helper()
	w := repo.Writer(t)
	res, err := tg.Backup(ctx, w)
	if err != nil {
		if w.Snapshot != "" && !w.Failed {
			t.Errorf("a failed backup wrote snapshot %s that looks good", w.Snapshot)
		}
		return nil, w, nil, err
	}
	if w.Calls != 1 || w.Snapshot == "" {
		t.Fatalf("a backup must write one snapshot: %d calls, snapshot %q", w.Calls, w.Snapshot)
	}
	var m Manifest
	if err := json.Unmarshal(res.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	for _, n := range res.Notes {
		t.Logf("note: %s", n)
	}
	return &m, w, res.Notes, nil
}

// restoreTo restores a snapshot into a new folder and returns it.
func restoreTo(t testing.TB, repo *targettest.Repo, tg *Target, snapshot string, opts map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "restored")
	if err := tg.Restore(context.Background(), repo.Reader(t, snapshot), targets.RestoreRequest{To: dir, Options: opts}); err != nil {
		t.Fatalf("restore of %.8s: %v", snapshot, err)
	}
	return dir
}

// assertSame fails the test unless the images hold the same bytes.
func assertSame(t testing.TB, want, got string) {
	t.Helper()
	if ok, msg := testenv.Identical(t, want, got); !ok {
		t.Errorf("%s differs from %s: %s", got, want, msg)
	}
}

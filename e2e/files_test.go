package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// makeTree builds a source folder with every kind of entry a restore must keep.
func makeTree(t *testing.T, root string, bigSize int64) {
	t.Helper()
	mk := func(p string, mode os.FileMode, data string) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil { // not subject to umask
			t.Fatal(err)
		}
	}
	mk("config/app.conf", 0o640, "db_host=10.0.0.5\n")
	mk("bin/run.sh", 0o755, "#!/bin/sh\necho run\n")
	mk("empty.txt", 0o600, "")
	mk("Kantor Dinas/Laporan Tahunan 2026.txt", 0o644, "laporan\n")
	mk("dokumen-ü/数据-é.txt", 0o644, "ünïcödé content\n")
	mk("owned/by-other.txt", 0o600, "owned\n")
	if err := os.Chown(filepath.Join(root, "owned/by-other.txt"), 1234, 5678); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"empty-dir", "deep/er/est"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "empty-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"link-rel": "config/app.conf", "link-abs": "/etc/hostname", "link-dangling": "no/such/file"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	testenv.RandomFile(t, filepath.Join(root, "big.bin"), bigSize, 42)
	// Times with nanoseconds, set last (creating entries changes their folders' times).
	past := time.Date(2024, 3, 15, 10, 30, 45, 123456789, time.UTC)
	_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode()&os.ModeSymlink == 0 {
			return os.Chtimes(p, past, past)
		}
		return err
	})
}

// The foundation's promise: a folder backed up into S3 through cadang restores byte for
// byte with its metadata, and an unchanged second backup adds (almost) nothing.
func TestFilesRoundTripThroughS3(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	primary := testenv.StartMinIO(t, "cadang")
	secondary := testenv.StartMinIO(t, "cadang-offsite")
	src := filepath.Join(w.dir, "srv", "portal")
	makeTree(t, src, 200<<20)

	w.config("drcs:\n" + s3DRC("local", "primary", primary, "", "cadang") + s3DRC("offsite", "secondary", secondary, "", "cadang-offsite") + `
agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - name: portal-files
    agency: dinkes
    kind: files
    files: {paths: [` + src + `]}
`)
	if r := w.must("init"); !strings.Contains(r.stdout, "created") || !strings.Contains(r.stdout, "seeded from local") {
		t.Fatalf("init:\n%s", r)
	}
	if r := w.must("init"); strings.Count(r.stdout, "exists") != 2 {
		t.Fatalf("second init must find both repositories:\n%s", r)
	}
	w.startDaemon()

	first, r := w.backupJSON("portal-files")
	if r.code != 0 || first.Status != "succeeded" || first.SnapshotID == "" || first.DRC != "local" {
		t.Fatalf("first backup: %s", r)
	}
	second, r := w.backupJSON("portal-files")
	if r.code != 0 || second.Status != "succeeded" {
		t.Fatalf("second backup: %s", r)
	}
	if second.BytesProcessed < 200<<20 || float64(second.BytesAdded) > 0.01*float64(second.BytesProcessed) {
		t.Errorf("an unchanged second backup added %d of %d bytes (want under 1%%)", second.BytesAdded, second.BytesProcessed)
	}
	t.Logf("first backup added %d bytes, the unchanged second %d bytes (of %d)", first.BytesAdded, second.BytesAdded, second.BytesProcessed)

	var snaps []api.SnapshotInfo
	if err := json.Unmarshal([]byte(w.must("snapshots", "portal-files", "--json").stdout), &snaps); err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 || snaps[0].Status != "good" || snaps[1].ID != second.SnapshotID {
		t.Fatalf("snapshots: %+v", snaps)
	}

	dest := filepath.Join(w.dir, "restored")
	r = w.must("restore", "portal-files", "--snapshot", first.SnapshotID[:8], "--to", dest)
	if !strings.Contains(r.stdout, "succeeded") {
		t.Fatalf("restore: %s", r)
	}
	if diffs := testenv.DiffTrees(testenv.Tree(t, src), testenv.Tree(t, filepath.Join(dest, src))); len(diffs) > 0 {
		t.Fatalf("restored tree differs from the source:\n%s", strings.Join(diffs, "\n"))
	}

	// Every list has the contract fields. Besides the two backups and the restore, the
	// list holds the replicate runs that copied each backup off-site (no target).
	var rows []map[string]any
	if err := json.Unmarshal([]byte(w.must("runs", "--json", "portal-files").stdout), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("want 3 runs of portal-files, got %d", len(rows))
	}
	var all []map[string]any
	if err := json.Unmarshal([]byte(w.must("runs", "--json").stdout), &all); err != nil {
		t.Fatal(err)
	}
	for _, row := range all {
		keys := []string{"id", "drc", "time", "status"}
		if row["op"] != "replicate" {
			keys = append(keys, "target")
		} else if row["agency"] != "dinkes" || row["drc"] != "offsite" {
			t.Errorf("replicate run: %v", row)
		}
		for _, k := range keys {
			if _, ok := row[k]; !ok {
				t.Errorf("run %v lacks %q", row["id"], k)
			}
		}
	}
	if rows[0]["op"] != "restore" || rows[0]["status"] != "succeeded" {
		t.Errorf("newest run: %v", rows[0])
	}
}

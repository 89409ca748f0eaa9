package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// slowWorld is a daemon whose primary DRC sits behind a slow link, with a target big
// enough that a backup takes many seconds.
func slowWorld(t *testing.T, rate int, size int64, grace string) (*world, *testenv.MinIO) {
	w := newWorld(t)
	w.grace = grace
	m := testenv.StartMinIO(t, "cadang")
	link := testenv.NewThrottle(t, m.Endpoint, rate)
	src := filepath.Join(w.dir, "src")
	makeTree(t, src, size)
	w.config("drcs:\n" + s3DRC("local", "primary", m, link.Addr, "cadang") + fmt.Sprintf(oneTarget, src))
	// The repository is created over the fast path so the test times only the backup.
	direct := strings.Replace(readConfig(t, w), link.Addr, m.Endpoint, 1)
	writeConfig(t, w, direct)
	w.must("init")
	writeConfig(t, w, strings.Replace(direct, m.Endpoint, link.Addr, 1))
	w.startDaemon()
	return w, m
}

// waitUploading waits until a run is uploading (restic reports bytes done).
func waitUploading(t *testing.T, w *world, id uint64) {
	t.Helper()
	c := api.NewClient(filepath.Join(w.stateDir, "cadang.sock"))
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ri, err := c.Run(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ri.Status.Done() {
			t.Fatalf("run %d ended before the test could interrupt it: %+v", id, ri.Run)
		}
		if ri.Progress != nil && ri.Progress.Phase == "backup" && ri.Progress.BytesDone > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("run %d never started uploading:\n%s", id, w.log())
}

func lockObjects(t *testing.T, m *testenv.MinIO) []string {
	t.Helper()
	var names []string
	for obj := range m.Client().ListObjects(context.Background(), "cadang", minio.ListObjectsOptions{Prefix: "dinkes/locks/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		names = append(names, obj.Key)
	}
	return names
}

// SIGTERM with a short grace: the running backup is cancelled, restic removes its lock,
// and the run is recorded as interrupted; the next daemon finds a consistent catalog.
func TestSIGTERMInterruptsAfterGrace(t *testing.T) {
	w, m := slowWorld(t, 1<<20, 24<<20, "1s")
	var queued api.RunInfo
	r := w.must("backup", "portal-files", "--json")
	mustJSON(t, r.stdout, &queued)
	waitUploading(t, w, queued.ID)
	if locks := lockObjects(t, m); len(locks) != 1 {
		t.Fatalf("a running backup holds one lock, found %v", locks)
	}

	start := time.Now()
	if code := w.stopDaemon(syscall.SIGTERM, 90*time.Second); code != 0 {
		t.Fatalf("daemon exit %d after SIGTERM:\n%s", code, w.log())
	}
	t.Logf("daemon stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	if locks := lockObjects(t, m); len(locks) != 0 {
		t.Errorf("restic left its lock behind: %v", locks)
	}

	w.startDaemon() // opens the same catalog: it must be intact
	runs := w.runs("portal-files")
	if len(runs) != 1 || runs[0].ID != queued.ID || runs[0].Status != "interrupted" || runs[0].Ended.IsZero() {
		t.Fatalf("after restart: %+v", runs)
	}
	if !strings.Contains(runs[0].Error, "the daemon stopped") {
		t.Errorf("interrupted run's reason: %q", runs[0].Error)
	}
	if r := w.must("snapshots", "portal-files", "--json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("an interrupted backup left a snapshot: %s", r.stdout)
	}
}

// SIGTERM with a long grace: the running backup ends on its own and is recorded as
// succeeded; meanwhile the daemon refuses new work.
func TestSIGTERMLetsRunningBackupFinish(t *testing.T) {
	w, _ := slowWorld(t, 3<<20, 12<<20, "5m")
	var queued api.RunInfo
	mustJSON(t, w.must("backup", "portal-files", "--json").stdout, &queued)
	waitUploading(t, w, queued.ID)

	if err := w.daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the daemon to stop taking work", func() bool {
		return strings.Contains(w.log(), "shutting down: no new work is taken")
	})
	if r := w.cadang("backup", "portal-files"); r.code != 1 || !strings.Contains(r.stderr, "the daemon is shutting down") {
		t.Errorf("a request during shutdown: %s", r)
	}
	if code := w.stopDaemon(syscall.SIGTERM, 3*time.Minute); code != 0 {
		t.Fatalf("daemon exit %d:\n%s", code, w.log())
	}
	w.startDaemon()
	runs := w.runs("portal-files")
	if len(runs) != 1 || runs[0].Status != "succeeded" || runs[0].SnapshotID == "" {
		t.Fatalf("the backup should have finished during the grace period: %+v", runs)
	}
}

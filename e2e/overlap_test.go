package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// The off-site copy overlaps the backup (issue 22): while a backup writes at the
// primary, the packs restic has finished are copied to the secondary; the pass after
// the backup copies the rest, the index and the snapshot.

// overlapWorld is a daemon with a primary MinIO behind a slow link (so that a backup
// takes seconds and packs are finished one after the other) and an off-site MinIO, and
// one files target of size random bytes.
func overlapWorld(t *testing.T, rate int, size int64) (w *world, local, offsite *testenv.MinIO) {
	w = newWorld(t)
	local = testenv.StartMinIO(t, "cadang")
	offsite = testenv.StartMinIO(t, "cadang-offsite")
	link := testenv.NewThrottle(t, local.Endpoint, rate)
	src := filepath.Join(w.dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i*(16<<20) < size; i++ {
		testenv.RandomFile(t, filepath.Join(src, fmt.Sprintf("part-%d.bin", i)), min(16<<20, size-i*(16<<20)), uint64(i+1))
	}
	w.config("drcs:\n" + s3DRC("local", "primary", local, link.Addr, "cadang") +
		s3DRC("offsite", "secondary", offsite, "", "cadang-offsite") +
		// No background pass during the test: what reaches the secondary while the backup
		// runs is the overlapped copy's.
		"    replication: {interval: 1h}\n" + fmt.Sprintf(oneTarget, src))
	w.must("init")
	w.startDaemon()
	return w, local, offsite
}

// overlapNotes returns the notes of the replicate runs.
func overlapNotes(w *world) string {
	var notes []string
	for _, r := range w.runs("") {
		if r.Op == "replicate" {
			notes = append(notes, r.Notes...)
		}
	}
	return strings.Join(notes, "; ")
}

// A backup with the overlapped copy: packs reach the off-site DRC while it runs; after
// the pass that follows the backup the two DRCs are the same,
// every object hashes to its name, and the ledger has the snapshot at both.
func TestOverlapCopiesPacksWhileBackupRuns(t *testing.T) {
	t.Parallel()
	w, local, offsite := overlapWorld(t, 3<<20, 64<<20)
	c := api.NewClient(filepath.Join(w.stateDir, "cadang.sock"))
	ctx := context.Background()
	ri, err := c.Backup(ctx, "portal-files")
	if err != nil {
		t.Fatal(err)
	}
	// While the backup runs, the secondary gets packs, and nothing else of it.
	sawPacks := 0
	for {
		cur, err := c.Run(ctx, ri.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Status.Done() {
			break
		}
		packs := 0
		for name := range bucketObjects(t, offsite, "cadang-offsite") {
			if strings.HasPrefix(name, "data/") {
				packs++
			}
		}
		sawPacks = max(sawPacks, packs)
		time.Sleep(300 * time.Millisecond)
	}
	bk, err := c.Wait(ctx, ri.ID, 100*time.Millisecond, nil)
	if err != nil || bk.Status != api.Succeeded {
		t.Fatalf("backup: %v %+v\n%s", err, bk, w.log())
	}
	if sawPacks == 0 {
		t.Errorf("no pack reached the secondary while the backup ran (%s)", bk.Ended.Sub(bk.Started))
	}
	syncedAlike(t, w, local, offsite, bk.SnapshotID)
	if notes := overlapNotes(w); !strings.Contains(notes, "while the backup ran") {
		t.Errorf("no replicate run says what was copied while the backup ran: %s", notes)
	} else {
		t.Logf("%d packs seen off-site during the backup; replicate runs: %s", sawPacks, notes)
	}
	w.restoreCompare("portal-files", bk.SnapshotID, "offsite", filepath.Join(w.dir, "src"))
}

// A backup killed mid-way (restic dies) while packs are copied: the secondary holds
// only whole objects, each hashing to its name, all of them at the primary too; no
// index or snapshot file, and the ledger records no snapshot. The next pass and
// backup bring the secondary to the primary's state.
func TestOverlapInterruptedBackupLeavesOnlyWholePacks(t *testing.T) {
	t.Parallel()
	w, local, offsite := overlapWorld(t, 2<<20, 160<<20)
	c := api.NewClient(filepath.Join(w.stateDir, "cadang.sock"))
	ctx := context.Background()
	ri, err := c.Backup(ctx, "portal-files")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "packs at the secondary during the backup", 2*time.Minute, func() (bool, string) {
		cur, err := c.Run(ctx, ri.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Status.Done() {
			t.Fatalf("the backup ended before the test could interrupt it: %+v", cur.Run)
		}
		n := 0
		for name := range bucketObjects(t, offsite, "cadang-offsite") {
			if strings.HasPrefix(name, "data/") {
				n++
			}
		}
		return n >= 2, fmt.Sprintf("%d packs off-site", n)
	})
	pid := resticChild(t, w.daemon.Process.Pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	bk, err := c.Wait(ctx, ri.ID, 100*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bk.Status == api.Succeeded || bk.SnapshotID != "" {
		t.Fatalf("the killed backup: %+v", bk.Run)
	}
	time.Sleep(2 * time.Second) // a round under way ends

	prim := bucketObjects(t, local, "cadang")
	off := bucketObjects(t, offsite, "cadang-offsite")
	for name, size := range off {
		if !strings.HasPrefix(name, "data/") {
			t.Errorf("the secondary holds %s of a backup that never ended", name)
		}
		if ps, ok := prim[name]; !ok || ps != size {
			t.Errorf("the secondary's %s (%d bytes) is not the primary's (%d bytes, there: %v)", name, size, ps, ok)
		}
	}
	if n := intactBucket(t, offsite, "cadang-offsite"); n == 0 {
		t.Fatal("no pack reached the secondary")
	}
	if snaps := w.snapshotsJSON("portal-files"); len(snaps) != 0 {
		t.Fatalf("the ledger records snapshots of a killed backup: %+v", snaps)
	}
	t.Logf("backup killed: %s; %d whole packs off-site", bk.Error, len(off))

	// restic's stale lock from the killed run is removed by cadang's next run.
	second, r := w.backupJSON("portal-files")
	if r.code != 0 {
		t.Fatalf("backup after the kill: %s", r)
	}
	syncedAlike(t, w, local, offsite, second.SnapshotID)
}

// resticChild returns the pid of the restic process the daemon runs.
func resticChild(t *testing.T, daemon int) int {
	t.Helper()
	if pids := children(daemon, "restic"); len(pids) > 0 {
		return pids[0]
	}
	t.Fatalf("no restic process under the daemon (pid %d)", daemon)
	return 0
}

// syncedAlike runs a replication pass and checks that both DRCs then hold the same
// objects, that every object at offsite hashes to its name, and that the target's one
// snapshot (id) is recorded at offsite.
func syncedAlike(t *testing.T, w *world, local, offsite *testenv.MinIO, id string) {
	t.Helper()
	if r := w.must("drc", "sync", "--wait"); !strings.Contains(r.stdout, "succeeded") {
		t.Fatalf("drc sync: %s", r)
	}
	if d := diffObjects(bucketObjects(t, local, "cadang"), bucketObjects(t, offsite, "cadang-offsite")); d != "" {
		t.Fatalf("local and offsite differ: %s", d)
	}
	intactBucket(t, offsite, "cadang-offsite")
	snaps := w.snapshotsJSON("portal-files")
	if len(snaps) != 1 || snaps[0].ID != id {
		t.Fatalf("snapshots: %+v", snaps)
	}
	if _, ok := snaps[0].Sites["offsite"]; !ok {
		t.Errorf("the snapshot is not recorded at offsite: %+v", snaps[0].Sites)
	}
}

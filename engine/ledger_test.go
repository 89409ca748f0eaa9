package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/drc/mirror"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
)

// A prune at the primary waits while a snapshot written at a secondary (the primary
// being down) is not back at the primary; the refused prune is queued again by the
// first replication pass after which it may run, once.
func TestPruneGateDefersThePrune(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, `drcs:
  - {name: local, role: primary, path: $DIR/local}
  - {name: offsite, role: secondary, path: $DIR/offsite}
agencies: [{id: a}, {id: b}]
targets:
  - {name: t1, agency: a, kind: stub, stub: {}}
`)
	clk := &clock{t: wib("2026-11-27 23:00:00")}
	d := newTestDaemon(t, cfg, clk.Now)
	if err := d.startup(nil); err != nil {
		t.Fatal(err)
	}
	const id = "5afa721c0123456789abcdef0123456789abcdef0123456789abcdef01234567"
	routed := &catalog.Snapshot{ID: id, Target: "t1", Agency: "a", Kind: "stub", Time: clk.Now(), RunID: 1,
		Status: catalog.SnapshotGood, DRC: "offsite", Sites: map[string]time.Time{"offsite": clk.Now()}}
	if err := d.cat.MergeSnapshot(routed, true); err != nil {
		t.Fatal(err)
	}

	err := d.repl.PruneGate("a")
	if err == nil || !strings.Contains(err.Error(), `agency "a": 1 snapshot(s) written at a secondary are not back at drc "local" yet ([5afa721c])`) {
		t.Fatalf("gate with a snapshot only at the secondary: %v", err)
	}
	if err := d.repl.PruneGate("b"); err != nil {
		t.Errorf("another agency's prune is not held: %v", err)
	}
	if d.retryDeferredPrune("a") {
		t.Error("a prune that was never refused is queued")
	}

	// The prune itself: agency a has a repository at the primary.
	repoDir := filepath.Join(dir, "local", "a")
	if err := os.MkdirAll(repoDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repoDir, "config"), []byte("restic"), 0o600); err != nil {
		t.Fatal(err)
	}
	j := &queue.Job{Run: &catalog.Run{ID: 100, Op: "prune", Agency: "a", DRC: "local"}}
	err = d.conf().runs.Prune(context.Background(), j, d.sites.primary())
	if err == nil || !strings.Contains(err.Error(), "prune waits for replication; it is queued again once they are") {
		t.Fatalf("prune with a snapshot only at the secondary: %v", err)
	}
	// A pass that did not bring it back leaves the prune waiting.
	clk.Add(time.Minute)
	pass := func(atPrimary []string) {
		r := &catalog.Run{ID: 101, Op: "replicate", Agency: "a", DRC: "offsite"}
		res := &mirror.MirrorResult{PrimarySnapshots: atPrimary, SecondarySnapshots: []string{id}}
		d.repl.Record(context.Background(), r, d.sites.primary(), d.sites[1], res, nil, clk.Now())
	}
	pass([]string{})
	if runs, _ := d.cat.Runs(catalog.RunFilter{Op: "prune"}); len(runs) != 0 {
		t.Fatalf("a prune queued while the snapshot is still only at the secondary: %+v", runs)
	}

	// A pass brought the snapshot back to the primary: the prune is queued, once.
	clk.Add(time.Minute)
	pass([]string{id})
	if err := d.repl.PruneGate("a"); err != nil {
		t.Fatalf("gate once the snapshot is back: %v", err)
	}
	pass([]string{id})
	runs, err := d.cat.Runs(catalog.RunFilter{Op: "prune"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Agency != "a" || runs[0].DRC != "local" || runs[0].Reason != reasonDeferred {
		t.Errorf("prune runs: %+v", runs)
	}
}

// With the secondary down, the bytes pending there come from the ledger as it is now
// (what the snapshots not yet there added at the primary), not from the last pass that
// ran before them ("1 snapshot, 0 B" while 300 MiB were missing).
func TestPendingBytesFromTheLedger(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, `drcs:
  - {name: local, role: primary, path: $DIR/local}
  - {name: offsite, role: secondary, path: $DIR/offsite-not-mounted}
agencies: [{id: a}]
targets: [{name: t1, agency: a, kind: stub, stub: {}}]
`)
	clk := &clock{t: wib("2026-11-27 23:00:00")}
	d := newTestDaemon(t, cfg, clk.Now)
	run := &catalog.Run{Op: "backup", Target: "t1", Agency: "a", DRC: "local", Status: catalog.Succeeded, BytesStored: 300 << 20}
	if err := d.cat.AddRun(run); err != nil {
		t.Fatal(err)
	}
	const id = "6bfa721c0123456789abcdef0123456789abcdef0123456789abcdef01234567"
	if err := d.cat.MergeSnapshot(&catalog.Snapshot{ID: id, Target: "t1", Agency: "a", Kind: "stub", Time: clk.Now(), RunID: run.ID,
		Status: catalog.SnapshotGood, DRC: "local", Sites: map[string]time.Time{"local": clk.Now()}}, true); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	drcs, err := svc(d).drcStatuses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := drcs[1].Replication
	if drcs[1].DRC != "offsite" || r == nil || r.SnapshotsPending != 1 || r.BytesPending != 300<<20 {
		t.Fatalf("offsite: %+v", r)
	}
	st := &Status{}
	if err := svc(d).fillStatus(st); err != nil {
		t.Fatal(err)
	}
	if len(st.Replication) != 1 || st.Replication[0].BytesPending != 300<<20 {
		t.Errorf("status replication: %+v", st.Replication)
	}
}

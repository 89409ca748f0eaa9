package catalog

import (
	"path/filepath"
	"testing"
	"time"
)

// Rebuilt snapshots are listed per target with their status and run, a snapshot seen
// again keeps its record and adds the DRC, and the next run is numbered after the
// highest run the tags named.
func TestRecordRebuilt(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	defer c.Close()
	t0 := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	snaps := []Snapshot{
		{ID: "aaaaaaaa01", Target: "web", Agency: "dinkes", Kind: "files", Time: t0, RunID: 3, Status: SnapshotGood, DRC: "local", Sites: map[string]time.Time{"local": t0}},
		{ID: "bbbbbbbb02", Target: "web", Agency: "dinkes", Kind: "files", Time: t0.Add(time.Hour), RunID: 7, Status: SnapshotBad, DRC: "local", Sites: map[string]time.Time{"local": t0.Add(time.Hour)}},
		{ID: "cccccccc03", Target: "db", Agency: "dinkes", Kind: "postgres", Time: t0, RunID: 5, Status: SnapshotPartial, DRC: "local", Sites: map[string]time.Time{"local": t0}},
	}
	if err := c.RecordRebuilt(snaps); err != nil {
		t.Fatal(err)
	}
	got, err := c.Snapshots("web")
	if err != nil || len(got) != 2 || got[0].ID != "aaaaaaaa01" || got[1].Status != SnapshotBad || got[1].RunID != 7 {
		t.Fatalf("web snapshots: %+v, %v", got, err)
	}
	// The same snapshot found at a second DRC: one record, both DRCs.
	again := snaps[0]
	again.Sites = map[string]time.Time{"dc2": t0.Add(2 * time.Hour)}
	again.Status = SnapshotBad // a repository's word does not replace the record's
	if err := c.RecordRebuilt([]Snapshot{again}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Snapshot("aaaaaaaa01")
	if err != nil || s.Status != SnapshotGood || len(s.Sites) != 2 || s.DRC != "local" {
		t.Fatalf("snapshot seen at two DRCs: %+v, %v", s, err)
	}
	r := &Run{Target: "web", Agency: "dinkes", Op: "backup"}
	if err := c.AddRun(r); err != nil {
		t.Fatal(err)
	}
	if r.ID != 8 {
		t.Errorf("first run after the rebuild is %d, want 8", r.ID)
	}
	// The numbering never goes back.
	if err := c.ReserveRuns(2); err != nil {
		t.Fatal(err)
	}
	r2 := &Run{Target: "web", Agency: "dinkes", Op: "backup"}
	if err := c.AddRun(r2); err != nil || r2.ID != 9 {
		t.Errorf("next run %d, %v; want 9", r2.ID, err)
	}
	if err := c.RecordRebuilt([]Snapshot{{ID: "x"}}); err == nil {
		t.Error("a snapshot without a target was recorded")
	}
}

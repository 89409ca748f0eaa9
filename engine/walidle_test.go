package engine

import (
	"testing"
	"time"

	"github.com/cadang/cadang/engine/catalog"
)

// The RPO of a continuous target whose server wrote nothing since the last segment
// stored is measured from when that was found, at the DRCs that hold the newest
// snapshot only; without such a finding, from the newest good snapshot there.
func TestRPONewestIdleServer(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	snaps := []catalog.Snapshot{
		{ID: "a", Status: catalog.SnapshotGood, Time: t0, Sites: map[string]time.Time{"local": t0, "offsite": t0}},
		{ID: "b", Status: catalog.SnapshotGood, Time: t0.Add(time.Minute), Sites: map[string]time.Time{"local": t0}},
		{ID: "c", Status: catalog.SnapshotPartial, Time: t0.Add(2 * time.Minute), Sites: map[string]time.Time{"local": t0, "offsite": t0}},
	}
	d := &Daemon{}
	if got := d.rpoNewest("pg", snaps, "local"); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("no idle finding: local measured from %s, want the newest good snapshot", got)
	}
	checked := t0.Add(time.Hour)
	d.walUpToDate.Store("pg", checked)
	if got := d.rpoNewest("pg", snaps, "local"); !got.Equal(checked) {
		t.Errorf("idle server: local measured from %s, want %s", got, checked)
	}
	if got := d.rpoNewest("pg", snaps, "offsite"); !got.Equal(t0) {
		t.Errorf("offsite lacks the newest snapshot: measured from %s, want %s", got, t0)
	}
	if got := d.rpoNewest("other", snaps, "local"); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("another target: measured from %s", got)
	}
	d.walUpToDate.Store("pg", t0.Add(30*time.Second)) // found before the newest snapshot
	if got := d.rpoNewest("pg", snaps, "local"); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("an older finding: measured from %s", got)
	}
}

package catalog

import (
	"path/filepath"
	"testing"
	"time"
)

// A backup and a replication pass may record a new snapshot in either order: the
// result is the same, with the backup's fields and every DRC.
func TestMergeSnapshotEitherOrder(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	backup := Snapshot{ID: "abc", Target: "portal", Agency: "dinkes", RunID: 7, DRC: "local", Status: SnapshotGood,
		Sites: map[string]time.Time{"local": t0.Add(time.Second)}}
	learned := Snapshot{ID: "abc", Target: "portal", Agency: "dinkes", RunID: 7, DRC: "archive", Status: SnapshotGood,
		Sites: map[string]time.Time{"archive": t0}}
	for _, order := range []string{"backup first", "learned first"} {
		c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
		b, l := backup, learned
		if order == "backup first" {
			mustMerge(t, c, &b, true)
			mustMerge(t, c, &l, false)
		} else {
			mustMerge(t, c, &l, false)
			mustMerge(t, c, &b, true)
		}
		got, err := c.Snapshot("abc")
		if err != nil {
			t.Fatal(err)
		}
		if got.DRC != "local" || got.RunID != 7 || len(got.Sites) != 2 || !got.Sites["archive"].Equal(t0) || !got.Sites["local"].Equal(t0.Add(time.Second)) {
			t.Errorf("%s: %+v", order, got)
		}
		if snaps, err := c.Snapshots("portal"); err != nil || len(snaps) != 1 {
			t.Errorf("%s: snapshots of the target: %+v %v", order, snaps, err)
		}
		c.Close()
	}
}

func mustMerge(t *testing.T, c *Catalog, s *Snapshot, authoritative bool) {
	t.Helper()
	if err := c.MergeSnapshot(s, authoritative); err != nil {
		t.Fatal(err)
	}
}

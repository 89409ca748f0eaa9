package catalog

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ReplaceFrom makes a live catalog the copy of another file: the other's runs (with
// their ids and the sequence that numbers the next one), none of its own.
func TestReplaceFrom(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	src := open(t, filepath.Join(dir, "main.db"))
	for _, target := range []string{"a", "b", "c"} {
		if err := src.AddRun(&Run{Op: "backup", Target: target, Status: Succeeded, Queued: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	live := open(t, filepath.Join(dir, "standby.db"))
	defer live.Close()
	if err := live.AddRun(&Run{Op: "backup", Target: "own", Status: Failed, Queued: now}); err != nil {
		t.Fatal(err)
	}
	if err := live.ReplaceFrom(filepath.Join(dir, "main.db")); err != nil {
		t.Fatal(err)
	}
	runs, err := live.Runs(RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.Target)
	}
	if strings.Join(got, ",") != "c,b,a" {
		t.Errorf("runs after the replace: %v, want c,b,a (newest first)", got)
	}
	next := &Run{Op: "backup", Target: "d", Queued: now}
	if err := live.AddRun(next); err != nil || next.ID != 4 {
		t.Errorf("the next run: id %d, %v; want 4", next.ID, err)
	}
	if err := live.ReplaceFrom(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("a missing file replaced the catalog")
	}
	if runs, _ := live.Runs(RunFilter{}); len(runs) != 4 {
		t.Errorf("a failed replace changed the catalog: %d runs", len(runs))
	}
}

package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T, path string) *Catalog {
	t.Helper()
	c, err := Open(path, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSecondOpenerIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	c := open(t, path)
	defer c.Close()
	_, err := Open(path, 100*time.Millisecond)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("want ErrInUse, got %v", err)
	}
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	c := open(t, path)
	if v, err := c.Schema(); err != nil || v != SchemaVersion() {
		t.Fatalf("schema = %d, %v", v, err)
	}
	c.Close()

	// A catalog written by a newer cadang is refused, not damaged.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, u64(99)) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, time.Second); err == nil || !strings.Contains(err.Error(), "schema version 99 is newer") {
		t.Fatalf("want a newer-schema error, got %v", err)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the refused catalog changed (%v)", err)
	}
}

func TestRuns(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	defer c.Close()
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	for i, target := range []string{"a", "b", "a", "a"} {
		r := &Run{Op: "backup", Target: target, Status: Queued, Queued: now.Add(time.Duration(i) * time.Minute)}
		if err := c.AddRun(r); err != nil {
			t.Fatal(err)
		}
		if r.ID != uint64(i+1) {
			t.Fatalf("run id = %d, want %d", r.ID, i+1)
		}
	}
	r, err := c.Run(3)
	if err != nil {
		t.Fatal(err)
	}
	r.Status, r.Started, r.SnapshotID = Succeeded, now.Add(time.Hour), "abc"
	if err := c.UpdateRun(r); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateRun(&Run{ID: 77}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a missing run: %v", err)
	}

	runs, err := c.Runs(RunFilter{Target: "a", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != 4 || runs[1].ID != 3 || runs[1].SnapshotID != "abc" {
		t.Fatalf("runs of a = %+v", runs)
	}
	if runs, _ := c.Runs(RunFilter{Status: Succeeded}); len(runs) != 1 || runs[0].ID != 3 {
		t.Fatalf("succeeded runs = %+v", runs)
	}
	if runs, _ := c.Runs(RunFilter{Target: "none"}); len(runs) != 0 {
		t.Fatalf("runs of an unknown target = %+v", runs)
	}
	unfinished, _ := c.Unfinished()
	if len(unfinished) != 3 || unfinished[0].ID != 1 {
		t.Fatalf("unfinished = %+v", unfinished)
	}

	// Every list carries "time": started, else queued.
	b, _ := json.Marshal(runs)
	if !strings.Contains(string(b), `"time":"2026-11-23T03:00:00Z"`) {
		t.Errorf("json lacks time: %s", b)
	}
}

func TestConcurrentRunUpdates(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	defer c.Close()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Go(func() {
			r := &Run{Op: "backup", Target: "t", Status: Queued}
			if err := c.AddRun(r); err != nil {
				t.Error(err)
				return
			}
			r.Status = Succeeded
			if err := c.UpdateRun(r); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	runs, _ := c.Runs(RunFilter{Target: "t"})
	if len(runs) != 20 {
		t.Fatalf("%d runs", len(runs))
	}
	for _, r := range runs {
		if r.Status != Succeeded {
			t.Errorf("run %d: %s", r.ID, r.Status)
		}
	}
}

func TestSnapshots(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	defer c.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"aaaa1111bbbb", "aaaa1111cccc", "dddd2222eeee"} {
		s := &Snapshot{ID: id, Target: "t", Time: t0.Add(-time.Duration(i) * time.Hour), Status: SnapshotGood, Sites: map[string]time.Time{"local": t0}}
		if err := c.PutSnapshot(s); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := c.Snapshot("dddd2222"); err != nil || s.ID != "dddd2222eeee" {
		t.Errorf("prefix lookup: %+v %v", s, err)
	}
	if _, err := c.Snapshot("aaaa1111"); err == nil || !strings.Contains(err.Error(), "several") {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if _, err := c.Snapshot("zzzz9999"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	snaps, err := c.Snapshots("t")
	if err != nil || len(snaps) != 3 || snaps[0].ID != "dddd2222eeee" {
		t.Fatalf("snapshots oldest first: %+v %v", snaps, err)
	}
	if err := c.DeleteSnapshot("aaaa1111bbbb"); err != nil {
		t.Fatal(err)
	}
	if snaps, _ := c.Snapshots("t"); len(snaps) != 2 {
		t.Fatalf("after delete: %+v", snaps)
	}
}

// An agency's runs: only its own, newest first, at most the limit; with a target too.
func TestRunsOfAnAgency(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "c.db"))
	defer c.Close()
	var runs []*Run
	for i := range 30 {
		a := []string{"dinkes", "disdik", "dinkes-kota"}[i%3] // dinkes-kota: a prefix must not match
		runs = append(runs, &Run{Op: "backup", Target: a + "-t", Agency: a, Status: Succeeded})
	}
	if err := c.Due(runs, nil); err != nil {
		t.Fatal(err)
	}
	got, err := c.Runs(RunFilter{Agency: "dinkes", Limit: 4})
	if err != nil || len(got) != 4 {
		t.Fatalf("%d runs, %v", len(got), err)
	}
	for i, r := range got {
		if r.Agency != "dinkes" || i > 0 && r.ID > got[i-1].ID {
			t.Errorf("run %d: %+v", i, r)
		}
	}
	if got, _ := c.Runs(RunFilter{Agency: "dinkes", Target: "disdik-t"}); len(got) != 0 {
		t.Errorf("another agency's target: %d runs", len(got))
	}
	if got, _ := c.Runs(RunFilter{Agency: "dinkes"}); len(got) != 10 {
		t.Errorf("all of dinkes's runs: %d, want 10", len(got))
	}
}

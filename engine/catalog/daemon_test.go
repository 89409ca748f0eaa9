package catalog

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A catalog written by the foundation (schema 1) is migrated to schema 2 in place:
// its runs stay, the daemon's buckets appear.
func TestMigrationFromSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		if err := migrations[0].apply(tx); err != nil {
			return err
		}
		if err := put(tx.Bucket(bucketRuns), u64(1), &Run{ID: 1, Op: "backup", Status: Succeeded}); err != nil {
			return err
		}
		return meta.Put(keySchema, u64(1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := open(t, path)
	defer c.Close()
	if v, _ := c.Schema(); v != SchemaVersion() {
		t.Fatalf("schema %d after migration", v)
	}
	if r, err := c.Run(1); err != nil || r.Status != Succeeded {
		t.Fatalf("run 1 after migration: %+v %v", r, err)
	}
	if s, err := c.ScheduleStates(); err != nil || len(s) != 0 {
		t.Fatalf("schedules: %v %v", s, err)
	}
}

func TestDueIsAtomic(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	defer c.Close()
	slot := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	runs := []*Run{{Op: "backup", Target: "a", Status: Queued}, {Op: "backup", Target: "b", Status: Queued}}
	states := []ScheduleState{{Key: "backup/a", Spec: "0 2 * * *", Last: slot}, {Key: "backup/b", Spec: "0 2 * * *", Last: slot}}
	if err := c.Due(runs, states); err != nil {
		t.Fatal(err)
	}
	if runs[0].ID != 1 || runs[1].ID != 2 {
		t.Fatalf("ids %d %d", runs[0].ID, runs[1].ID)
	}
	got, err := c.ScheduleStates()
	if err != nil || len(got) != 2 || !got["backup/b"].Last.Equal(slot) {
		t.Fatalf("states: %+v %v", got, err)
	}
	if rs, _ := c.Runs(RunFilter{Target: "b"}); len(rs) != 1 || rs[0].ID != 2 {
		t.Fatalf("runs of b: %+v", rs)
	}
	// A run that cannot be stored (its manifest is not JSON) leaves no schedule state
	// and no other run behind.
	bad := []*Run{{Op: "backup", Target: "c", Status: Queued}, {Op: "backup", Target: "d", Status: Queued, Manifest: []byte("{")}}
	if err := c.Due(bad, []ScheduleState{{Key: "backup/c", Last: slot}}); err == nil {
		t.Fatal("a run with a broken manifest was stored")
	}
	if got, _ := c.ScheduleStates(); len(got) != 2 {
		t.Errorf("a failed Due left state: %+v", got)
	}
	if all, _ := c.Runs(RunFilter{}); len(all) != 2 {
		t.Errorf("a failed Due left runs: %d", len(all))
	}
}

func TestLeases(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	defer c.Close()
	for _, l := range []*Lease{
		{DRC: "local", Agency: "dinkes", Op: "backup", Run: 7, Host: "vm", Daemon: Proc{PID: 10, Start: 99}},
		{DRC: "local", Agency: "dinkes", Op: "backup", Run: 12, Host: "vm"},
		{DRC: "local", Agency: "dinkes-2", Op: "prune", Run: 9, Host: "vm"},
		{DRC: "offsite", Agency: "dinkes", Op: "check", Run: 8, Host: "vm"},
	} {
		if err := c.PutLease(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddLeaseProc("local", "dinkes", 7, Proc{PID: 4242, Start: 1234}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddLeaseProc("local", "dinkes", 99, Proc{PID: 1}); err == nil {
		t.Error("a process was added to a missing lease")
	}
	ls, err := c.Leases("local", "dinkes")
	if err != nil || len(ls) != 2 || ls[0].Run != 7 || ls[1].Run != 12 || len(ls[0].Restic) != 1 || ls[0].Restic[0].PID != 4242 {
		t.Fatalf("leases on local/dinkes (not dinkes-2): %+v %v", ls, err)
	}
	if err := c.DeleteLease("local", "dinkes", 7); err != nil {
		t.Fatal(err)
	}
	if all, _ := c.Leases("", ""); len(all) != 3 {
		t.Errorf("all leases after delete: %+v", all)
	}
}

func TestRepoState(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	defer c.Close()
	if s, err := c.RepoState("local", "dinkes"); err != nil || s.NextPart != 0 || s.LastCheck != nil {
		t.Fatalf("empty state: %+v %v", s, err)
	}
	now := time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
	err := c.UpdateRepoState("local", "dinkes", func(s *RepoState) {
		s.Parts, s.NextPart = 20, 4
		s.LastCheck = &CheckResult{Run: 3, Time: now, Status: Succeeded, Subset: "3/20"}
	})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := c.RepoState("local", "dinkes")
	if s.NextPart != 4 || s.LastCheck.Subset != "3/20" || s.DRC != "local" {
		t.Fatalf("state: %+v", s)
	}
	if all, _ := c.RepoStates(); len(all) != 1 {
		t.Errorf("states: %+v", all)
	}
}

package catalog

import (
	"path/filepath"
	"testing"
	"time"
)

// Damage found twice is one record counted twice; closing it resolves its alarm; a loss
// stands while a snapshot that lost data is kept and marked.
func TestDamageRecordsAndLoss(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	defer c.Close()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	d1, isNew, err := c.RecordDamage(Damage{DRC: "offsite", Agency: "dinkes", Object: "data/ab/ab12", How: "verify"}, t0)
	if err != nil || !isNew {
		t.Fatalf("first record: %v %v", isNew, err)
	}
	d2, isNew, err := c.RecordDamage(Damage{DRC: "offsite", Agency: "dinkes", Object: "data/ab/ab12", How: "drill"}, t0.Add(time.Hour))
	if err != nil || isNew || d2.ID != d1.ID || d2.Count != 2 {
		t.Fatalf("the same damage again: %+v new=%v %v", d2, isNew, err)
	}
	if alarms, _ := c.Alarms(false); len(alarms) != 1 || alarms[0].Kind != AlarmDamaged || alarms[0].Object != "data/ab/ab12" {
		t.Fatalf("alarms: %+v", alarms)
	}
	if err := c.CloseDamage(d1.ID, DamageRepaired, "local", 9, "copied", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if open, _ := c.Damages(false, "", ""); len(open) != 0 {
		t.Errorf("open after the repair: %+v", open)
	}
	if alarms, _ := c.Alarms(false); len(alarms) != 0 {
		t.Errorf("alarms after the repair: %+v", alarms)
	}

	// A loss: the snapshot is kept and marked, then forgotten.
	s := &Snapshot{ID: "5a5a", Target: "portal", Status: SnapshotGood, Sites: map[string]time.Time{"local": t0}, Damaged: map[string]string{"local": "needs data/cd/cd34"}}
	if err := c.PutSnapshot(s); err != nil {
		t.Fatal(err)
	}
	d3, _, err := c.RecordDamage(Damage{DRC: "local", Agency: "dinkes", Object: "data/cd/cd34", How: "verify"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CloseDamage(d3.ID, DamageQuarantined, "", 10, "moved aside", t0); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateDamage(d3.ID, func(d *Damage) { d.Lost, d.Snapshots = true, []string{"5a5a", "gone"} }); err != nil {
		t.Fatal(err)
	}
	if stands, err := c.LossRemains("local", "dinkes"); err != nil || !stands {
		t.Errorf("loss with its snapshot kept: %v %v", stands, err)
	}
	if stands, _ := c.LossRemains("offsite", "dinkes"); stands {
		t.Error("no loss at offsite")
	}
	if err := c.DeleteSnapshot("5a5a"); err != nil {
		t.Fatal(err)
	}
	if stands, err := c.LossRemains("local", "dinkes"); err != nil || stands {
		t.Errorf("loss once its snapshot is forgotten: %v %v", stands, err)
	}
}

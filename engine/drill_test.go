package engine

import (
	"sort"
	"testing"

	"github.com/cadang/cadang/engine/catalog"
)

// A drill schedule queues, at its slot, one drill run per DRC of the target's
// drill.drcs, through the queue, and `cadang schedule` plans it; on demand, --drc
// drills from one DRC, --all drills every target.
func TestDrillSchedule(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, `scheduler: {jitter: 0s}
drcs:
  - {name: local, role: primary, path: $DIR/local}
  - {name: offsite, role: secondary, path: $DIR/offsite}
agencies: [{id: a}]
drill: {schedule: "0 3 * * 6"}
targets:
  - {name: t1, agency: a, kind: stub, stub: {}}
  - {name: t2, agency: a, kind: stub, stub: {}, drill: {drcs: [offsite], schedule: "0 4 * * *"}}
`)
	clk := &clock{t: wib("2026-11-27 23:00:00")} // a Friday
	d := newTestDaemon(t, cfg, clk.Now)
	if err := d.startup(nil); err != nil {
		t.Fatal(err)
	}
	plan := d.conf().sched.Plan(clk.Now(), wib("2026-11-28 23:00:00"), 0)
	var planned []string
	for _, p := range plan {
		planned = append(planned, p.Op+" "+p.Target+" "+p.Time.In(d.conf().sched.Loc()).Format("15:04"))
	}
	if len(planned) != 2 || planned[0] != "drill t1 03:00" || planned[1] != "drill t2 04:00" {
		t.Errorf("planned: %v", planned)
	}
	at := wib("2026-11-28 03:00:00")
	clk.Set(at)
	if err := d.fire(d.conf().sched.Tick(at), nil); err != nil {
		t.Fatal(err)
	}
	runs, err := d.cat.Runs(catalog.RunFilter{Op: "drill"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.Target+"@"+r.DRC+" "+r.Reason)
	}
	sort.Strings(got)
	if len(got) != 2 || got[0] != "t1@local schedule" || got[1] != "t1@offsite schedule" {
		t.Errorf("drill runs at 03:00 Saturday: %v", got)
	}

	queued, err := d.Drill(DrillRequest{All: true, DRC: "offsite"})
	if err != nil || len(queued) != 2 || queued[0].DRC != "offsite" || queued[1].DRC != "offsite" {
		t.Errorf("drill --all --drc offsite: %+v %v", queued, err)
	}
	if _, err := d.Drill(DrillRequest{Target: "nope"}); err == nil {
		t.Error("a drill of an unknown target was queued")
	}
	if _, err := d.Drill(DrillRequest{Target: "t1", All: true}); err == nil {
		t.Error("a target and --all were both accepted")
	}
}

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/runbooks"
)

// drillMariaDBToPointInTime drills the continuous target my (TestMariaDBPointInTime's
// daemon, running, its binary log archived every 2 s) from drc: the drill writes a row
// before a time T and one after it at production, closes their binlog file, waits for
// it at the DRC, loads the newest dump into a scratch database, replays the binary log
// up to T and finds exactly the row before T; then it drops the scratch database and
// removes its rows at production and its scratch folder.
func drillMariaDBToPointInTime(t *testing.T, w *world, my *testenv.My, drc string) {
	t.Helper()
	tr := pointInTimeDrill(t, w, "my", drc, "probe binlog restore verify-probe verify-checks cleanup")
	checks := 0
	for _, ch := range tr.Checks {
		if strings.Contains(ch.Name.String(), "FROM items") && ch.Passed {
			checks++
		}
	}
	if checks != 1 {
		t.Errorf("the target's drill check did not pass on the scratch database: %+v", tr.Checks)
	}
	if n := my.Query(t, "app", "SELECT COUNT(*) FROM cadang_drill_probe"); n != "0" {
		t.Errorf("%s probe rows left at production", n)
	}
	if n := my.Query(t, "", "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE 'cadang\\_drill\\_%'"); n != "0" {
		t.Errorf("%s scratch databases left on the server", n)
	}
}

// pointInTimeDrill drills the continuous target from drc and checks what every drill
// to a point in time must show, whatever its log: it passed at that DRC in the steps
// of such a drill (steps: the kind's, after snapshot and packs), its point-in-time check passed, it restored
// bytes, its RPO is above zero, and it left no scratch folder. It returns the drill's
// result.
func pointInTimeDrill(t *testing.T, w *world, target, drc, steps string) runbooks.TargetResult {
	t.Helper()
	// The base backup must be at the DRC before the drill picks it (a secondary gets it
	// by replication, which a loaded machine may not have finished); the drill itself
	// waits for the log of its probe rows.
	w.must("drc", "sync", "--wait")
	start := time.Now()
	r := w.must("drill", target, "--drc", drc, "--wait")
	t.Logf("drill of %s to a point in time at %s took %s", target, drc, time.Since(start).Round(time.Millisecond))
	if !strings.Contains(r.stdout, "succeeded: drill of "+target) {
		t.Fatalf("drill of %s at %s:\n%s\n%s", target, drc, r, w.log())
	}
	runs, res := drillRuns(t, w, target)
	if len(runs) == 0 {
		t.Fatal("no drill run recorded")
	}
	tr := res[0]
	if !tr.Passed || tr.DRC != drc {
		t.Fatalf("drill at %s: passed %v at %s, steps %+v", drc, tr.Passed, tr.DRC, tr.Steps)
	}
	var keys []string
	for _, s := range tr.Steps {
		keys = append(keys, s.Key)
	}
	if got, want := strings.Join(keys, " "), "snapshot packs "+steps; got != want {
		t.Errorf("drill steps: %s, want %s", got, want)
	}
	probe := false
	for _, ch := range tr.Checks {
		if strings.Contains(ch.Name.String(), "titik waktu") || strings.Contains(ch.Name.String(), "point-in-time") {
			probe = ch.Passed
		}
	}
	if !probe {
		t.Errorf("no passed point-in-time check: %+v", tr.Checks)
	}
	if tr.BytesRestored == 0 || tr.RPOAchieved <= 0 {
		t.Errorf("drill: %d bytes restored, RPO %v", tr.BytesRestored, tr.RPOAchieved)
	}
	if l := leftovers(t, w); len(l) != 0 {
		t.Errorf("scratch left behind: %v", l)
	}
	return tr
}

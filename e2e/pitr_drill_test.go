package e2e

import (
	"fmt"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/internal/testenv"
)

// drillToPointInTime drills the continuous target pg (TestPostgresPointInTime's daemon,
// running, its WAL archived every 2 s) from drc: the drill writes a row before a time
// T and one after it at production, waits for their WAL at the DRC, recovers the
// newest base backup to T in a scratch data directory and finds exactly the row
// before T; then it removes its rows at production and its scratch folder.
func drillToPointInTime(t *testing.T, w *world, c *testenv.ArchivingPG, drc string) {
	t.Helper()
	start := time.Now()
	r := w.must("drill", "pg", "--drc", drc, "--wait")
	t.Logf("drill to a point in time at %s took %s", drc, time.Since(start).Round(time.Millisecond))
	if !strings.Contains(r.stdout, "succeeded: drill of pg") {
		t.Fatalf("drill of pg at %s:\n%s\n%s", drc, r, w.log())
	}
	runs, res := drillRuns(t, w, "pg")
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
	if got := strings.Join(keys, " "); got != "snapshot packs probe wal restore verify-probe verify-checks cleanup" {
		t.Errorf("drill steps: %s", got)
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
	if n := c.Query(t, c.Port, "app", "SELECT count(*) FROM cadang_drill_probe"); n != "0" {
		t.Errorf("%s probe rows left at production", n)
	}
	if l := leftovers(t, w); len(l) != 0 {
		t.Errorf("scratch left behind: %v", l)
	}
	// As root, the recovered server runs as postgres in a folder of its home.
	if u, err := user.Lookup("postgres"); err == nil {
		if l, _ := filepath.Glob(filepath.Join(u.HomeDir, fmt.Sprintf("cadang_drill_%d-*", runs[0].ID))); len(l) != 0 {
			t.Errorf("drill folder left behind: %v", l)
		}
	}
}

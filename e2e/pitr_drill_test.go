package e2e

import (
	"fmt"
	"os/user"
	"path/filepath"
	"testing"

	"github.com/cadang/cadang/internal/testenv"
)

// drillToPointInTime drills the continuous target pg (TestPostgresPointInTime's daemon,
// running, its WAL archived every 2 s) from drc: the drill writes a row before a time
// T and one after it at production, waits for their WAL at the DRC, recovers the
// newest base backup to T in a scratch data directory and finds exactly the row
// before T; then it removes its rows at production and its scratch folder.
func drillToPointInTime(t *testing.T, w *world, c *testenv.ArchivingPG, drc string) {
	t.Helper()
	tr := pointInTimeDrill(t, w, "pg", drc, "probe wal restore verify-probe verify-checks cleanup") // binlog_drill_test.go
	if n := c.Query(t, c.Port, "app", "SELECT count(*) FROM cadang_drill_probe"); n != "0" {
		t.Errorf("%s probe rows left at production", n)
	}
	// As root, the recovered server runs as postgres in a folder of its home.
	if u, err := user.Lookup("postgres"); err == nil {
		if l, _ := filepath.Glob(filepath.Join(u.HomeDir, fmt.Sprintf("cadang_drill_%d-*", tr.Run))); len(l) != 0 {
			t.Errorf("drill folder left behind: %v", l)
		}
	}
}

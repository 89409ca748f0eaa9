package dbdump_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

// TestPITRDrillVerify: the verify-probe step of a drill to a point in time passes on
// exactly the row written before T, and fails (recording a failed check) on both rows,
// on none, or when the restored database does not answer.
func TestPITRDrillVerify(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		err   error
		ok    bool
	}{
		{"the row before T", []string{"cadang_drill_7-ab12-before"}, nil, true},
		{"both rows", []string{"cadang_drill_7-ab12-after", "cadang_drill_7-ab12-before"}, nil, false},
		{"no row", nil, nil, false},
		{"the database does not answer", nil, errors.New("connection refused"), false},
	} {
		var checks []targets.DrillCheck
		env := &targets.DrillEnv{Name: "cadang_drill_7", Check: func(c targets.DrillCheck) { checks = append(checks, c) }}
		var asked string
		d := &dbdump.PITRDrill{Env: env, Token: "cadang_drill_7-ab12", At: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
			Query: func(_ context.Context, sql string) ([]string, error) { asked = sql; return tc.lines, tc.err }}
		var verify targets.DrillStep
		for _, s := range d.Steps() {
			if s.Key == "verify-probe" {
				verify = s
			}
		}
		_, err := verify.Exec(context.Background())
		if (err == nil) != tc.ok || len(checks) != 1 || checks[0].Passed != tc.ok {
			t.Errorf("%s: err %v, checks %+v; want passed %v", tc.name, err, checks, tc.ok)
		}
		if !strings.Contains(asked, "LIKE 'cadang_drill_7-ab12-%'") || !strings.Contains(asked, dbdump.ProbeTable) {
			t.Errorf("%s: asked %q", tc.name, asked)
		}
	}
}

package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
)

// A drill refuses a drill.server that is the target's own server reached by another
// name, address or over its socket, unless drill.allow_production (issue 13, point 3);
// another server is accepted.
func TestDrillRefusesProductionServer(t *testing.T) {
	pg := testenv.Postgres(t)
	src := newSource(t, pg)
	src.exec(t, "CREATE TABLE pasien (id int PRIMARY KEY); INSERT INTO pasien SELECT generate_series(1, 10);")
	repo := targettest.NewRepo(t)
	tg := build(t, src.config()) // 127.0.0.1:5432
	res, snap := backup(t, repo, tg)
	drill := func(t *testing.T, server string) (string, error) {
		env := &targets.DrillEnv{Scratch: t.TempDir(), Name: testenv.Name("cadang_drill"), Manifest: res.Manifest,
			Server: server, Log: testLogger(t), Check: func(targets.DrillCheck) {}, Restored: func(int64) {}}
		pg.DropDBAtCleanup(t, env.Name)
		return env.Name, targettest.RunDrill(context.Background(), tg.DrillSteps(repo.Reader(t, snap), env))
	}
	for name, server := range map[string]string{
		"another name":    fmt.Sprintf("postgres://localhost:%d/", pg.Port),
		"same address":    fmt.Sprintf("postgres://127.0.0.1:%d/?user=%s", pg.Port, src.role),
		"over its socket": pg.AdminURL(""), // only the server itself can tell
	} {
		t.Run(name, func(t *testing.T) {
			scratchDB, err := drill(t, server)
			if err == nil || !strings.Contains(err.Error(), "is the target's own server") || !strings.Contains(err.Error(), "drill.allow_production") {
				t.Errorf("drill on %s: %v, want a refusal", server, err)
			} else {
				t.Logf("refused: %v", err)
			}
			if n := pg.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '"+scratchDB+"'"); n != "0" {
				t.Errorf("the drill created its scratch database %s on production", scratchDB)
			}
		})
	}
	t.Run("another server", func(t *testing.T) {
		other := testenv.NewPostgresCluster(t)
		other.Exec(t, "postgres", "CREATE ROLE "+src.role)
		if _, err := drill(t, other.AdminURL("")); err != nil {
			t.Errorf("drill on another server: %v", err)
		}
	})
}

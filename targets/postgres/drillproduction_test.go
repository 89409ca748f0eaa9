package postgres_test

import (
	"context"
	"encoding/json"
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
	other := testenv.NewPostgresCluster(t)
	other.Exec(t, "postgres", "CREATE ROLE "+src.role)
	t.Run("another server", func(t *testing.T) {
		if _, err := drill(t, other.AdminURL("")); err != nil {
			t.Errorf("drill on another server: %v", err)
		}
	})
	// Where the drill runs, the target's own server may be out of reach: a target
	// backed up by an agent over a socket of the agent's host, or a server that is
	// down. What the server said it was at backup (the manifest) decides then.
	var m struct {
		ServerIdentity string `json:"server_identity"`
	}
	if err := json.Unmarshal(res.Manifest, &m); err != nil || !strings.Contains(m.ServerIdentity, fmt.Sprintf("port %d", pg.Port)) {
		t.Fatalf("the manifest's server identity: %q %v", m.ServerIdentity, err)
	}
	cfg := src.config()
	cfg.Host, cfg.Port = "/run/cadang-agent-host-only", 5432
	far := build(t, cfg)
	farDrill := func(t *testing.T, server string) (string, error) {
		env := &targets.DrillEnv{Scratch: t.TempDir(), Name: testenv.Name("cadang_drill"), Manifest: res.Manifest,
			Server: server, Log: testLogger(t), Check: func(targets.DrillCheck) {}, Restored: func(int64) {}}
		pg.DropDBAtCleanup(t, env.Name)
		other.DropDBAtCleanup(t, env.Name)
		return env.Name, targettest.RunDrill(context.Background(), far.DrillSteps(repo.Reader(t, snap), env))
	}
	t.Run("own server out of reach, drill.server is it", func(t *testing.T) {
		scratchDB, err := farDrill(t, pg.AdminURL(""))
		if err == nil || !strings.Contains(err.Error(), "is the target's own server") || !strings.Contains(err.Error(), "the server the backup was taken from") {
			t.Errorf("drill on the production server, its target out of reach: %v, want a refusal", err)
		}
		if n := pg.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '"+scratchDB+"'"); n != "0" {
			t.Errorf("the drill created its scratch database %s on production", scratchDB)
		}
	})
	t.Run("own server out of reach, another server", func(t *testing.T) {
		if _, err := farDrill(t, other.AdminURL("")); err != nil {
			t.Errorf("drill on another server, the target's out of reach: %v", err)
		}
	})
}

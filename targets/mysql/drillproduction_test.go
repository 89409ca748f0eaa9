package mysql_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/mysql"
)

// A drill refuses a drill.server that is the target's own server reached by another
// name or over its socket, unless drill.allow_production (issue 13, point 3); another
// server is accepted.
func TestDrillRefusesProductionServer(t *testing.T) {
	my := testenv.MariaDB(t)
	src := newSource(t, my)
	my.Exec(t, src.db, "CREATE TABLE pasien (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO pasien SELECT seq FROM seq_1_to_10;")
	repo := targettest.NewRepo(t)
	tg := build(t, src.config()) // 127.0.0.1:3306
	res, snap := backup(t, repo, tg)
	drill := func(t *testing.T, server string) (string, error) {
		env := &targets.DrillEnv{Scratch: t.TempDir(), Name: testenv.Name("cadang_drill"), Manifest: res.Manifest,
			Server: server, Log: slog.New(slog.DiscardHandler), Check: func(targets.DrillCheck) {}, Restored: func(int64) {}}
		my.DropDBAtCleanup(t, env.Name)
		return env.Name, targettest.RunDrill(context.Background(), tg.DrillSteps(repo.Reader(t, snap), env))
	}
	for name, server := range map[string]string{
		"another name":    fmt.Sprintf("mysql://localhost:%d/", my.Port),
		"same address":    fmt.Sprintf("mysql://127.0.0.1:%d/?user=%s", my.Port, src.user),
		"over its socket": my.AdminURL(""), // only the server itself can tell
	} {
		t.Run(name, func(t *testing.T) {
			scratchDB, err := drill(t, server)
			if err == nil || !strings.Contains(err.Error(), "is the target's own server") || !strings.Contains(err.Error(), "drill.allow_production") {
				t.Errorf("drill on %s: %v, want a refusal", server, err)
			} else {
				t.Logf("refused: %v", err)
			}
			if n := my.Query(t, "", "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '"+scratchDB+"'"); n != "0" {
				t.Errorf("the drill created its scratch database %s on production", scratchDB)
			}
		})
	}
	other := testenv.NewMariaDBServer(t)
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
	if err := json.Unmarshal(res.Manifest, &m); err != nil || !strings.Contains(m.ServerIdentity, fmt.Sprintf("port %d", my.Port)) {
		t.Fatalf("the manifest's server identity: %q %v", m.ServerIdentity, err)
	}
	cfg := src.config()
	cfg.Host, cfg.Port = "/run/cadang-agent-host-only/mysqld.sock", 0
	far := build(t, cfg)
	farDrill := func(t *testing.T, server string) (string, error) {
		env := &targets.DrillEnv{Scratch: t.TempDir(), Name: testenv.Name("cadang_drill"), Manifest: res.Manifest,
			Server: server, Log: slog.New(slog.DiscardHandler), Check: func(targets.DrillCheck) {}, Restored: func(int64) {}}
		my.DropDBAtCleanup(t, env.Name)
		other.DropDBAtCleanup(t, env.Name)
		return env.Name, targettest.RunDrill(context.Background(), far.DrillSteps(repo.Reader(t, snap), env))
	}
	t.Run("own server out of reach, drill.server is it", func(t *testing.T) {
		scratchDB, err := farDrill(t, my.AdminURL(""))
		if err == nil || !strings.Contains(err.Error(), "is the target's own server") || !strings.Contains(err.Error(), "the server the backup was taken from") {
			t.Errorf("drill on the production server, its target out of reach: %v, want a refusal", err)
		}
		if n := my.Query(t, "", "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '"+scratchDB+"'"); n != "0" {
			t.Errorf("the drill created its scratch database %s on production", scratchDB)
		}
	})
	t.Run("own server out of reach, another server", func(t *testing.T) {
		if _, err := farDrill(t, other.AdminURL("")); err != nil {
			t.Errorf("drill on another server, the target's out of reach: %v", err)
		}
	})
}

// A drill to a point in time (mode: continuous) refuses the target's own server as its
// drill.server before it writes its probe rows at production.
func TestPointInTimeDrillRefusesProductionFirst(t *testing.T) {
	my := testenv.MariaDB(t)
	src := newSource(t, my)
	cfg := src.config()
	cfg.Mode = mysql.ModeContinuous
	tg := build(t, cfg)
	env := &targets.DrillEnv{Scratch: t.TempDir(), Name: testenv.Name("cadang_drill"), Server: my.AdminURL(""), WAL: noLog{},
		Log: slog.New(slog.DiscardHandler), Check: func(targets.DrillCheck) {}, Restored: func(int64) {}}
	err := targettest.RunDrill(context.Background(), tg.DrillSteps(nil, env))
	if err == nil || !strings.Contains(err.Error(), "is the target's own server") {
		t.Errorf("drill to a point in time on production: %v, want a refusal", err)
	}
	if n := my.Query(t, "", "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '"+src.db+"' AND TABLE_NAME = 'cadang_drill_probe'"); n != "0" {
		t.Errorf("the refused drill wrote its probe table at production")
	}
}

// noLog is an archive the refused drill never reaches.
type noLog struct{}

func (noLog) RestoreWAL(context.Context, string, string) (int, error) {
	return 0, errors.New("no log")
}

package mysql_test

import (
	"context"
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
	t.Run("another server", func(t *testing.T) {
		other := testenv.NewMariaDBServer(t)
		if _, err := drill(t, other.AdminURL("")); err != nil {
			t.Errorf("drill on another server: %v", err)
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

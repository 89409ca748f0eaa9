package postgres_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/postgres"
)

// walPushStandIn is an executable that takes `wal-push --target=NAME PATH` as cadang
// does and copies the segment into spool: what the daemon's spool receives, without a
// daemon (e2e/pitr_test.go runs the real path).
func walPushStandIn(t *testing.T, spool string) string {
	dir := testenv.PostgresDir(t, "bin")
	script := filepath.Join(dir, "cadang")
	body := "#!/bin/sh\nset -e\n[ \"$1\" = wal-push ] || exit 2\ncp \"$3\" " + spool + "/.tmp.$$\nmv " + spool + "/.tmp.$$ " + spool + "/$(basename \"$3\")\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// TestPointInTimeRestore: base backup, rows written one by one, a time T noted between
// two of them, the WAL archived and stored in restic; the restore to T holds exactly
// the rows committed before T. A server not set up is a failed run naming the setting.
func TestPointInTimeRestore(t *testing.T) {
	t.Parallel()
	c := testenv.NewArchivingPG(t)
	ctx := context.Background()
	password := "pitr-" + testenv.Name("pw")
	c.Query(t, c.Port, "postgres", fmt.Sprintf("CREATE ROLE pitr LOGIN SUPERUSER REPLICATION PASSWORD '%s'; CREATE DATABASE app OWNER pitr;", password))
	c.Query(t, c.Port, "app", "CREATE TABLE rows (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
	cfg := &postgres.Config{Host: "127.0.0.1", Port: c.Port, Database: "app", User: "pitr", BinDir: c.Bin,
		PasswordFile: testenv.SecretFile(t, password), Mode: postgres.ModeContinuous, ArchiveInterval: 10 * time.Second}
	tg := newTarget(t, "pitr", cfg)
	repo := targettest.NewRepo(t)

	// Not set up: the run fails naming the setting.
	if _, err := tg.Backup(ctx, repo.Writer(t)); err == nil || !strings.Contains(err.Error(), "archive_command") {
		t.Fatalf("backup of a server without archive_command: %v", err)
	}
	spool := testenv.PostgresDir(t, "spool")
	settings, err := tg.Apply(ctx, postgres.ArchiveCommand(walPushStandIn(t, spool), "", "pitr"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if !s.OK {
			t.Fatalf("after pg setup --apply: %+v", s)
		}
	}

	w := repo.Writer(t)
	if _, err := tg.Backup(ctx, w); err != nil {
		t.Fatalf("base backup: %v", err)
	}
	base := w.Snapshot

	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			c.Query(t, c.Port, "app", fmt.Sprintf("INSERT INTO rows (id) VALUES (%d)", i))
		}
	}
	insert(1, 30)
	at := c.Query(t, c.Port, "app", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
	time.Sleep(20 * time.Millisecond)
	insert(31, 60)
	last := c.Query(t, c.Port, "app", "SELECT pg_walfile_name(pg_switch_wal())")
	c.WaitArchived(t, last, 30*time.Second)
	// Where the server's WAL ends (the daemon's idle check): in the segment just
	// switched, or a later one, of 1 MiB.
	if pos, err := tg.CurrentWAL(ctx); err != nil || pos.Segment < last || pos.SegmentSize != 1<<20 || !strings.Contains(pos.LSN, "/") {
		t.Errorf("CurrentWAL after archiving %s: %+v, %v", last, pos, err)
	}

	// The archiver's part: the spool as one snapshot, restored where the restore reads it.
	names, _ := filepath.Glob(filepath.Join(spool, "0*"))
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	sum, _, err := repo.Backup(ctx, drc.BackupOptions{Dir: spool, Paths: names, Tags: []string{postgres.TagWAL + "=" + names[0] + "-" + names[len(names)-1]}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	walDir := testenv.PostgresDir(t, "wal")
	if err := repo.Reader(t, sum.SnapshotID).RestoreTo(ctx, walDir, nil); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		opts map[string]string
		want string
	}{
		{"to a time", map[string]string{postgres.OptToTime: at}, "30 30"},
		{"latest", map[string]string{}, "60 60"},
	} {
		tc.opts[postgres.OptWALDir] = walDir
		data := filepath.Join(testenv.PostgresDir(t, "restore"), "data")
		start := time.Now()
		if err := tg.Restore(ctx, repo.Reader(t, base), targets.RestoreRequest{To: data, Options: tc.opts}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Logf("%s: restored and recovered in %s", tc.name, time.Since(start).Round(time.Millisecond))
		port := testenv.FreePort(t)
		c.Start(t, data, port, "-c", "listen_addresses=")
		if got := c.Query(t, port, "app", "SELECT count(*) || ' ' || coalesce(max(id), 0) FROM rows"); got != tc.want {
			t.Errorf("%s: restored rows (count, max id) %s, want %s", tc.name, got, tc.want)
		}
	}
}

func newTarget(t *testing.T, name string, cfg *postgres.Config) *postgres.Target {
	t.Helper()
	kind, _ := targets.Lookup("postgres")
	tg, err := kind.New(targets.Spec{Name: name, Agency: "test", Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return tg.(*postgres.Target)
}

package mysql_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/mysql"
)

// binlogArchive is the archive of a test: what the daemon does every interval (the
// closed binlog files fetched from the server into a spool, stored as one snapshot),
// done when a drill or the test asks, and the stored snapshots restored into a folder.
type binlogArchive struct {
	t     *testing.T
	tg    *mysql.Target
	repo  *targettest.Repo
	spool *mysql.BinlogSpool
	snaps []string
}

func (a *binlogArchive) store(ctx context.Context) error {
	if _, err := a.tg.FetchBinlogs(ctx, a.spool); err != nil {
		return err
	}
	names, err := a.spool.Names()
	if err != nil || len(names) == 0 {
		return err
	}
	sum, _, err := a.repo.Backup(ctx, drc.BackupOptions{Dir: a.spool.Dir, Paths: names, Tags: []string{mysql.TagBinlog + "=" + names[0] + "-" + names[len(names)-1]}}, nil)
	if err != nil {
		return err
	}
	a.snaps = append(a.snaps, sum.SnapshotID)
	return a.spool.Remove(names)
}

// RestoreWAL implements targets.WALArchive.
func (a *binlogArchive) RestoreWAL(ctx context.Context, last, dir string) (int, error) {
	if err := a.store(ctx); err != nil {
		return 0, err
	}
	for _, id := range a.snaps {
		if err := a.repo.Reader(a.t, id).RestoreTo(ctx, dir, nil); err != nil {
			return 0, err
		}
	}
	return len(a.snaps), nil
}

// TestPhysicalPointInTime: a whole server to a point in time (method: physical in mode:
// continuous). A physical backup tagged with the binlog file current when it began;
// then rows, an account, a database, T, more rows and a dropped table; the binary log
// archived. A restore to T gives a data directory a new server starts on with exactly
// what was committed before T, in every database, the account included; a restore of
// the latest has everything; a server URL is refused. A drill to a point in time
// proves it on a scratch server of its own and leaves nothing behind.
func TestPhysicalPointInTime(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/bin/mariadb-backup"); err != nil {
		testenv.Skip(t, "mariadb-backup is not installed: run `make services`")
	}
	my := testenv.NewBinlogMariaDBServer(t)
	ctx := context.Background()
	password := testenv.Name("pw")
	my.Exec(t, "", fmt.Sprintf(`CREATE DATABASE simpus;
CREATE TABLE simpus.items (id int PRIMARY KEY, at datetime(6) NOT NULL DEFAULT NOW(6)) ENGINE=InnoDB;
CREATE TABLE simpus.old (id int PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO simpus.old VALUES (1), (2);
CREATE USER cadang_backup@'%%' IDENTIFIED BY '%s';
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, REPLICATION SLAVE, SHOW DATABASES ON *.* TO cadang_backup@'%%';
GRANT CREATE, INSERT, DELETE, SELECT ON simpus.* TO cadang_backup@'%%';`, password))
	cfg := &mysql.Config{Host: my.Host, Port: my.Port, All: true, Database: "simpus", Method: mysql.MethodPhysical,
		Mode: mysql.ModeContinuous, ArchiveInterval: 10 * time.Second, User: "cadang_backup", PasswordFile: testenv.SecretFile(t, password)}
	tg := build(t, cfg)
	repo := targettest.NewRepo(t)
	res, snap := backup(t, repo, tg)
	if from := snapshotTag(t, repo, snap, mysql.TagBinlogFrom); !mysql.ValidBinlogName(from) {
		t.Fatalf("physical backup tag %s=%q", mysql.TagBinlogFrom, from)
	}
	if tags := repo.Reader(t, snap).Snapshot().Tags; !contains(tags, "method=physical") {
		t.Errorf("snapshot tags %v", tags)
	}

	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			my.Exec(t, "simpus", fmt.Sprintf("INSERT INTO items (id) VALUES (%d)", i))
		}
	}
	insert(1, 30)
	my.Exec(t, "", "FLUSH BINARY LOGS") // the replay crosses files
	my.Exec(t, "", `CREATE USER late_user@'%' IDENTIFIED BY 'late-secret';
CREATE DATABASE arsip;
CREATE TABLE arsip.surat (id int PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO arsip.surat VALUES (7);`)
	time.Sleep(1100 * time.Millisecond) // binlog events carry whole seconds
	at := my.Query(t, "", "SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%d %H:%i:%s.%f+00')")
	time.Sleep(1100 * time.Millisecond)
	insert(31, 60)
	my.Exec(t, "", "FLUSH BINARY LOGS")
	my.Exec(t, "", "DROP TABLE simpus.old; INSERT INTO arsip.surat VALUES (8)")

	spool, err := mysql.OpenBinlogSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	archive := &binlogArchive{t: t, tg: tg, repo: repo, spool: spool}
	binlogDir := t.TempDir()
	if n, err := archive.RestoreWAL(ctx, "", binlogDir); err != nil || n != 1 {
		t.Fatalf("binary log archived and restored: %d snapshots, %v", n, err)
	}

	restore := func(to string, opts map[string]string) error {
		opts[mysql.OptBinlogDir] = binlogDir
		return tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: to, Options: opts})
	}
	if err := restore(my.AdminURL("simpus_t"), map[string]string{mysql.OptToTime: at}); err == nil || !strings.Contains(err.Error(), "give a folder") {
		t.Errorf("a point-in-time restore of a physical backup into a server URL: %v", err)
	}
	for _, tc := range []struct {
		name string
		opts map[string]string
		want map[string]string
	}{
		{"to a time", map[string]string{mysql.OptToTime: at}, map[string]string{
			"SELECT CONCAT(COUNT(*), ' ', MAX(id)) FROM simpus.items":                      "30 30",
			"SELECT COUNT(*) FROM simpus.old":                                              "2",
			"SELECT GROUP_CONCAT(id) FROM arsip.surat":                                     "7",
			"SELECT COUNT(*) FROM mysql.user WHERE User = 'late_user'":                     "1",
			"SELECT COUNT(*) FROM mysql.user WHERE User = 'cadang_backup'":                 "1",
			"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'simpus'": "2",
		}},
		{"latest", map[string]string{}, map[string]string{
			"SELECT CONCAT(COUNT(*), ' ', MAX(id)) FROM simpus.items":                      "60 60",
			"SELECT GROUP_CONCAT(id ORDER BY id) FROM arsip.surat":                         "7,8",
			"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'simpus'": "1",
			"SELECT COUNT(*) FROM mysql.user WHERE User = 'late_user'":                     "1",
		}},
	} {
		data := filepath.Join(testenv.MySQLDir(t, "cadang-physical-pitr-"), "data")
		start := time.Now()
		if err := restore(data, tc.opts); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Logf("%s: prepared and replayed in %s", tc.name, time.Since(start).Round(time.Millisecond))
		b := testenv.StartMariaDBOn(t, data)
		for q, want := range tc.want {
			if got := b.Query(t, "", q); got != want {
				t.Errorf("%s: %s on the restored server: %q, want %q", tc.name, q, got, want)
			}
		}
	}

	// Nothing archived after the backup: the end of the archive is the copy itself.
	base := filepath.Join(testenv.MySQLDir(t, "cadang-physical-base-"), "data")
	if err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: base, Options: map[string]string{mysql.OptBinlogDir: t.TempDir()}}); err != nil {
		t.Fatalf("restore of the end of an archive holding nothing after the backup: %v", err)
	}
	if got := testenv.StartMariaDBOn(t, base).Query(t, "", "SELECT COUNT(*) FROM simpus.items"); got != "0" {
		t.Errorf("the copy alone: %s rows, want 0", got)
	}

	// A hole in the archive before the time asked fails the restore, naming the file,
	// and leaves the folder empty.
	names, _ := os.ReadDir(binlogDir)
	var files []string
	for _, e := range names {
		if mysql.ValidBinlogName(e.Name()) {
			files = append(files, e.Name())
		}
	}
	if len(files) < 3 {
		t.Fatalf("archived files %v: want three or more", files)
	}
	missing := files[1]
	if err := os.Remove(filepath.Join(binlogDir, missing)); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(testenv.MySQLDir(t, "cadang-physical-gap-"), "data")
	if err := restore(data, map[string]string{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("restore past a missing file: %v (want %s named)", err, missing)
	}
	if left, _ := os.ReadDir(data); len(left) > 0 {
		t.Errorf("a failed restore left %d entries in its folder", len(left))
	}

	// The drill: probe rows at production, the archive waited for and restored, the
	// copy replayed up to T and started, exactly the row before T there, every table
	// sound, drill.checks true; nothing left.
	// First, a backup of another MariaDB series: the drill stops at its first step,
	// before it writes at production or reads the snapshot.
	other := &taggedAs{Reader: repo.Reader(t, snap), version: otherSeries(strings.Split(my.Query(t, "", "SELECT VERSION()"), "-")[0])}
	derr := targettest.RunDrill(ctx, tg.DrillSteps(other, &targets.DrillEnv{Scratch: t.TempDir(), Name: testenv.Name("cadang_drill"),
		WAL: archive, Log: slog.New(slog.DiscardHandler), Restored: func(int64) {}, Check: func(targets.DrillCheck) {}}))
	if derr == nil || !strings.HasPrefix(derr.Error(), "step probe: ") || !strings.Contains(derr.Error(), "MariaDB "+other.version) || other.opened.Load() != 0 {
		t.Errorf("drill of a backup of MariaDB %s: %v (snapshot read %d times)", other.version, derr, other.opened.Load())
	}
	if got := my.Query(t, "", "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'cadang_drill_probe'"); got != "0" {
		t.Errorf("the refused drill wrote at production (%s probe tables)", got)
	}

	scratch := t.TempDir()
	var checks, steps []string
	env := &targets.DrillEnv{Scratch: scratch, Name: testenv.Name("cadang_drill"), Manifest: res.Manifest, WAL: archive,
		Checks: []string{"SELECT COUNT(*) = 60 FROM items"}, Log: slog.New(slog.DiscardHandler), Restored: func(int64) {}}
	env.Check = func(c targets.DrillCheck) {
		checks = append(checks, fmt.Sprintf("%v %s: %s", c.Passed, c.Checked(), c.Result()))
	}
	// The scratch servers keep out of the host's /tmp: a mariadbd removes the #sql*
	// files of its tmpdir when it starts, there the temporary tables of production's
	// queries.
	canary := filepath.Join(os.TempDir(), "#sql-cadang-canary-"+testenv.Name("t"))
	if err := os.WriteFile(canary, []byte("a temporary table of production's"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(canary) })
	drill := tg.DrillSteps(repo.Reader(t, snap), env)
	for _, st := range drill {
		steps = append(steps, st.Key)
	}
	if got := strings.Join(steps, " "); got != "probe binlog restore start verify-probe verify-tables verify-checks cleanup" {
		t.Errorf("drill steps: %s", got)
	}
	if err := targettest.RunDrill(ctx, drill); err != nil {
		t.Fatalf("drill: %v\n%s", err, strings.Join(checks, "\n"))
	}
	if len(checks) != 3 || !strings.HasPrefix(checks[0], "true") || !strings.HasPrefix(checks[1], "true") ||
		!strings.Contains(checks[1], "2 databases, 3 tables sound") || !strings.HasPrefix(checks[2], "true") {
		t.Errorf("drill checks:\n%s", strings.Join(checks, "\n"))
	}
	if _, err := os.Stat(filepath.Join(scratch, "data")); err == nil {
		t.Error("the drill left its data directory")
	}
	if _, err := os.Stat(canary); err != nil {
		t.Errorf("a scratch server removed a file of the host's /tmp: %v", err)
	}
	if got := my.Query(t, "simpus", "SELECT COUNT(*) FROM cadang_drill_probe"); got != "0" {
		t.Errorf("the drill left %s probe rows at production", got)
	}
	t.Logf("drill: %s", strings.Join(checks, "; "))
}

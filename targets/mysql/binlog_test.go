package mysql_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/mysql"
)

// binlogUser creates the user a continuous target runs as, with the privileges
// docs/continuous.md lists, and returns its password file.
func binlogUser(t *testing.T, my *testenv.My, db string) string {
	password := "pitr-" + testenv.Name("pw")
	my.Exec(t, "", fmt.Sprintf(`CREATE USER 'pitr'@'%%' IDENTIFIED BY '%s';
GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON %s.* TO 'pitr'@'%%';
GRANT SELECT ON mysql.proc TO 'pitr'@'%%';
GRANT RELOAD, BINLOG MONITOR, REPLICATION SLAVE ON *.* TO 'pitr'@'%%';`, password, db))
	return testenv.SecretFile(t, password)
}

// TestPointInTimeRestore: a dump, rows written with a time T noted between two of them
// more than a second apart, the binary log fetched from the server and stored in
// restic; the restore to T into a new database holds exactly the rows committed before
// T, the restore to the end of the archive all of them. An idle server is not flushed;
// a binlog file purged before it was fetched is a gap the spool names, and a restore
// past it fails naming it.
func TestPointInTimeRestore(t *testing.T) {
	t.Parallel()
	my := testenv.NewBinlogMariaDBServer(t)
	ctx := context.Background()
	my.Exec(t, "", "CREATE DATABASE app; CREATE TABLE app.items (id int PRIMARY KEY, at datetime(6) NOT NULL DEFAULT NOW(6))")
	cfg := &mysql.Config{Host: my.Host, Port: my.Port, Database: "app", User: "pitr", PasswordFile: binlogUser(t, my, "app"),
		Mode: mysql.ModeContinuous, ArchiveInterval: 10 * time.Second}
	tg := build(t, cfg)
	repo := targettest.NewRepo(t)
	w := repo.Writer(t)
	if _, err := tg.Backup(ctx, w); err != nil {
		t.Fatalf("dump: %v", err)
	}
	dump := w.Snapshot
	if from := snapshotTag(t, repo, dump, mysql.TagBinlogFrom); !mysql.ValidBinlogName(from) {
		t.Fatalf("dump tag %s=%q", mysql.TagBinlogFrom, from)
	}

	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			my.Exec(t, "app", fmt.Sprintf("INSERT INTO items (id) VALUES (%d)", i))
		}
	}
	insert(1, 30)
	time.Sleep(1100 * time.Millisecond) // binlog events carry whole seconds
	at := my.Query(t, "", "SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%d %H:%i:%s.%f+00')")
	time.Sleep(1100 * time.Millisecond)
	insert(31, 60)

	spool, err := mysql.OpenBinlogSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got, err := tg.FetchBinlogs(ctx, spool)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	names, _ := spool.Names()
	if len(got.Files) == 0 || len(names) != len(got.Files) {
		t.Fatalf("fetched %v, spool holds %v", got.Files, names)
	}
	if again, err := tg.FetchBinlogs(ctx, spool); err != nil || !again.Idle || len(again.Files) != 0 {
		t.Fatalf("fetch on an idle server: %+v %v (want nothing flushed, nothing fetched)", again, err)
	}
	binlogDir := t.TempDir()
	store := func(names []string) {
		t.Helper()
		sum, _, err := repo.Backup(ctx, drc.BackupOptions{Dir: spool.Dir, Paths: names, Tags: []string{mysql.TagBinlog + "=" + names[0] + "-" + names[len(names)-1]}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.Reader(t, sum.SnapshotID).RestoreTo(ctx, binlogDir, nil); err != nil {
			t.Fatal(err)
		}
	}
	store(names)

	restore := func(db string, opts map[string]string) error {
		opts[mysql.OptBinlogDir] = binlogDir
		return tg.Restore(ctx, repo.Reader(t, dump), targets.RestoreRequest{To: my.AdminURL(db), Options: opts})
	}
	for _, tc := range []struct {
		name, db string
		opts     map[string]string
		want     string
	}{
		{"to a time", "app_t", map[string]string{mysql.OptToTime: at}, "30 30"},
		{"latest", "app_latest", map[string]string{}, "60 60"},
	} {
		start := time.Now()
		if err := restore(tc.db, tc.opts); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Logf("%s: restored and replayed in %s", tc.name, time.Since(start).Round(time.Millisecond))
		if got := my.Query(t, tc.db, "SELECT CONCAT(COUNT(*), ' ', COALESCE(MAX(id), 0)) FROM items"); got != tc.want {
			t.Errorf("%s: restored rows (count, max id) %s, want %s", tc.name, got, tc.want)
		}
	}
	// Nothing archived after the dump: the end of the archive is the dump itself; a
	// time is refused.
	empty := map[string]string{mysql.OptBinlogDir: t.TempDir()}
	if err := tg.Restore(ctx, repo.Reader(t, dump), targets.RestoreRequest{To: my.AdminURL("app_base"), Options: empty}); err != nil {
		t.Errorf("restore of the end of an archive holding nothing after the dump: %v", err)
	} else if got := my.Query(t, "app_base", "SELECT COUNT(*) FROM items"); got != "0" {
		t.Errorf("restore of the dump alone: %s rows, want 0", got)
	}
	empty[mysql.OptToTime] = at
	if err := tg.Restore(ctx, repo.Reader(t, dump), targets.RestoreRequest{To: my.AdminURL("app_base_t"), Options: empty}); err == nil || !strings.Contains(err.Error(), "no binary log is archived from file") {
		t.Errorf("restore to a time with nothing archived after the dump: %v", err)
	}
	// A time after the archive's end is refused: the replay would stop short of it.
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if err := restore("app_later", map[string]string{mysql.OptToTime: later}); err == nil || !strings.Contains(err.Error(), "the archived binary log ends at") {
		t.Errorf("restore to a time after the archive's end: %v", err)
	}
	if err := my.TryExec("app_later", "SELECT 1"); err == nil {
		t.Error("a refused restore left database app_later")
	}
	if err := restore("app_t", map[string]string{}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("restore into an existing database: %v", err)
	}
	if got := my.Query(t, "app_t", "SELECT COUNT(*) FROM items"); got != "30" {
		t.Errorf("the refused restore changed the existing database: %s rows", got)
	}

	// A file purged before it was archived.
	if err := spool.Remove(names); err != nil {
		t.Fatal(err)
	}
	insert(61, 70)
	my.Exec(t, "", "FLUSH BINARY LOGS")
	insert(71, 80)
	my.Exec(t, "", "FLUSH BINARY LOGS")
	my.PurgeBinlogs(t)
	if _, err := tg.FetchBinlogs(ctx, spool); err != nil {
		t.Fatalf("fetch after a purge: %v", err)
	}
	gaps, err := spool.Gaps()
	missing := names[len(names)-1]
	missing = missing[:strings.LastIndexByte(missing, '.')+1] + fmt.Sprintf("%06d", seq(t, missing)+1)
	if err != nil || len(gaps) != 1 || gaps[0].Missing != missing || !strings.Contains(gaps[0].String(), "binlog file "+missing+" is missing") {
		t.Fatalf("gaps after purging %s: %v %v", missing, gaps, err)
	}
	after, _ := spool.Names()
	store(after)
	err = restore("app_gap", map[string]string{})
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("restore past a purged file: %v (want it named: %s)", err, missing)
	}
	if err := my.TryExec("app_gap", "SELECT 1"); err == nil {
		t.Error("a refused restore left database app_gap")
	}
	// Before the hole, a restore to a time still works.
	if err := restore("app_t2", map[string]string{mysql.OptToTime: at}); err != nil {
		t.Errorf("restore to a time before the hole: %v", err)
	}
}

// TestContinuousNeedsLogBin: a dump in mode: continuous of a server without log_bin
// fails naming log_bin.
func TestContinuousNeedsLogBin(t *testing.T) {
	t.Parallel()
	my := testenv.NewMariaDBServer(t)
	my.Exec(t, "", "CREATE DATABASE app")
	cfg := &mysql.Config{Host: my.Host, Port: my.Port, Database: "app", User: "pitr", PasswordFile: binlogUser(t, my, "app"),
		Mode: mysql.ModeContinuous}
	tg := build(t, cfg)
	repo := targettest.NewRepo(t)
	if _, err := tg.Backup(context.Background(), repo.Writer(t)); err == nil || !strings.Contains(err.Error(), "log_bin") {
		t.Fatalf("dump of a server without log_bin: %v", err)
	}
	spool, _ := mysql.OpenBinlogSpool(t.TempDir())
	if _, err := tg.FetchBinlogs(context.Background(), spool); err == nil || !strings.Contains(err.Error(), "log_bin") {
		t.Fatalf("fetch from a server without log_bin: %v", err)
	}
}

// seq is the number of a binlog file name (decimal, leading zeros).
func seq(t *testing.T, name string) int {
	n, err := strconv.Atoi(name[strings.LastIndexByte(name, '.')+1:])
	if err != nil {
		t.Fatalf("%q: %v", name, err)
	}
	return n
}

func snapshotTag(t *testing.T, repo *targettest.Repo, id, key string) string {
	t.Helper()
	for _, tag := range repo.Reader(t, id).Snapshot().Tags {
		if k, v, _ := strings.Cut(tag, "="); k == key {
			return v
		}
	}
	return ""
}

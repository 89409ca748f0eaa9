package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets/mysql"
)

// TestMariaDBPointInTime: a mysql target in mode: continuous, end to end through the
// daemon, on two real MinIO servers: a dump, rows written with a time T noted between
// two of them more than a second apart, the daemon archiving the binary log every 2 s;
// a drill at the off-site DRC restores to a point in time (binlog_drill_test.go);
// `cadang restore --to-time` from the off-site DRC alone (the primary's MinIO stopped)
// into a new database holds exactly the rows committed before T.
// A binlog file purged from the server while the daemon was down raises the wal-gap
// alarm naming it; a new dump resolves it.
func TestMariaDBPointInTime(t *testing.T) {
	t.Parallel()
	my := testenv.NewBinlogMariaDBServer(t)
	my.Exec(t, "", "CREATE DATABASE app; CREATE TABLE app.items (id int PRIMARY KEY)")
	password := "pitr-" + testenv.Name("pw")
	my.Exec(t, "", fmt.Sprintf(`CREATE USER 'pitr'@'%%' IDENTIFIED BY '%s';
GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, CREATE, INSERT, DELETE ON app.* TO 'pitr'@'%%';
GRANT SELECT ON mysql.proc TO 'pitr'@'%%';
GRANT RELOAD, BINLOG MONITOR, REPLICATION SLAVE ON *.* TO 'pitr'@'%%';`, password))
	w := newWorld(t)
	primary, drcs := twoDRCs(t)
	w.config(drcs + fmt.Sprintf(`agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - name: my
    agency: dinkes
    kind: mysql
    mysql: {host: 127.0.0.1, port: %d, database: app, user: pitr, password_file: %s, mode: continuous, archive_interval: 2s}
    drill:
      server: %q
      allow_production: true  # one server here: the scratch database goes beside production
      checks: ["SELECT COUNT(*) = 60 FROM items"]
`, my.Port, testenv.SecretFile(t, password), my.AdminURL("")))
	w.startDaemon()
	if ri, r := w.backupJSON("my"); ri.Status != "succeeded" {
		t.Fatalf("dump: %s", r)
	}

	insert := func(from, to int) { insertItems(t, my, from, to) }
	spool := filepath.Join(w.stateDir, "binlog", "spool", "my")
	archived := func() { binlogArchived(t, w, my, "my") }
	insert(1, 30)
	time.Sleep(1100 * time.Millisecond) // binlog events carry whole seconds
	at := my.Query(t, "", "SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%d %H:%i:%s.%f+00')")
	time.Sleep(1100 * time.Millisecond)
	insert(31, 60)
	archived()

	var st api.Status
	mustJSON(t, w.must("status", "--json").stdout, &st)
	for _, ts := range st.TargetStatus {
		if ts.Name == "my" && ts.RPOSeconds != 4 {
			t.Errorf("rpo of a continuous target with archive_interval 2s: %vs, want 4s (twice the interval)", ts.RPOSeconds)
		}
	}

	// A drill restores to a point in time from the off-site DRC (binlog_drill_test.go).
	drillMariaDBToPointInTime(t, w, my, "offsite")

	// From the off-site DRC alone: the primary's MinIO stopped.
	w.must("drc", "sync", "--wait")
	primary.Stop()
	for _, tc := range []struct {
		name, db string
		args     []string
		want     string
	}{
		// (targets/mysql restores to the end of the archive and refuses an existing
		// database; here a time, from the other DRC.)
		{"to a time from the off-site DRC", "app_t", []string{"--to-time", at}, "30 30"},
	} {
		start := time.Now()
		w.must(append([]string{"restore", "my", "--drc", "offsite", "--to", my.AdminURL(tc.db)}, tc.args...)...)
		t.Logf("%s: restore and replay took %s", tc.name, time.Since(start).Round(time.Millisecond))
		if got := my.Query(t, tc.db, "SELECT CONCAT(COUNT(*), ' ', COALESCE(MAX(id), 0)) FROM items"); got != tc.want {
			t.Errorf("%s: restored rows (count, max id) %s, want %s", tc.name, got, tc.want)
		}
	}
	logReadAtOnce(t, w, "binlog")
	// A file purged before it was archived: the daemon down, two files closed, purged.
	w.stopDaemon(syscall.SIGTERM, time.Minute)
	primary.Start()
	b, _ := os.ReadFile(filepath.Join(spool, ".last-archived"))
	// The restores were written to the server's binary log too: the daemon may have
	// archived (or only spooled) more files since.
	last := strings.TrimSpace(string(b))
	entries, _ := os.ReadDir(spool)
	for _, e := range entries {
		if mysql.ValidBinlogName(e.Name()) && mysql.BinlogLess(last, e.Name()) {
			last = e.Name()
		}
	}
	i := strings.LastIndexByte(last, '.')
	n, err := strconv.Atoi(last[i+1:])
	if err != nil {
		t.Fatalf("last archived %q: %v", last, err)
	}
	missing := fmt.Sprintf("%s.%06d", last[:i], n+1)
	insert(61, 70)
	my.Exec(t, "", "FLUSH BINARY LOGS")
	insert(71, 80)
	my.Exec(t, "", "FLUSH BINARY LOGS")
	my.PurgeBinlogs(t)
	w.startDaemon()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := w.get("/v1/alarms")
		if strings.Contains(body, "wal-gap") && strings.Contains(body, "binlog file "+missing+" is missing") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alarm naming %s: %s\n%s", missing, body, w.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A new full backup restarts the chain: the alarm is resolved.
	if ri, r := w.backupJSON("my"); ri.Status != "succeeded" {
		t.Fatalf("dump after the hole: %s", r)
	}
	if _, body := w.get("/v1/alarms"); strings.Contains(body, "binlog file "+missing) {
		t.Errorf("the hole's alarm stays after a new dump: %s", body)
	}
}

// insertItems inserts the rows from..to into app.items, one statement each.
func insertItems(t *testing.T, my *testenv.My, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		my.Exec(t, "app", fmt.Sprintf("INSERT INTO items VALUES (%d)", i))
	}
}

// binlogArchived closes the binlog file current at my and waits until it (with every
// write made so far) is recorded in a snapshot of target by w's daemon. (Waiting for
// the file current after the last write without closing it could wait for ever: when
// the archiver flushes between the write and SHOW MASTER STATUS, that file is a new
// empty one, which an idle server never gets closed.)
func binlogArchived(t *testing.T, w *world, my *testenv.My, target string) {
	t.Helper()
	spool := filepath.Join(w.stateDir, "binlog", "spool", target)
	closed := strings.Fields(my.Query(t, "", "SHOW MASTER STATUS"))[0]
	my.Exec(t, "", "FLUSH BINARY LOGS")
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(filepath.Join(spool, ".last-archived"))
		if last := strings.TrimSpace(string(b)); last != "" && !mysql.BinlogLess(last, closed) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("binlog file %s not archived (last archived %q):\n%s", closed, b, w.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

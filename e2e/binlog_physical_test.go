package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/internal/testenv"
)

// TestMariaDBPhysicalPointInTime: a whole MariaDB server to a point in time (method:
// physical in mode: continuous), end to end through the daemon on two real MinIO
// servers: a physical backup (mariadb-backup), rows, an account and a database written
// around a time T, the binary log archived every 2 s; a drill at the off-site DRC
// replays the copy up to T on a scratch server of its own; `cadang restore --to-time`
// from the off-site DRC alone (the primary's MinIO stopped) gives a data directory
// that a new server starts on with exactly what was committed before T.
func TestMariaDBPhysicalPointInTime(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("mariadb-backup"); err != nil {
		testenv.Skip(t, "mariadb-backup is not installed: run `make services`")
	}
	my := testenv.NewBinlogMariaDBServer(t)
	my.Exec(t, "", "CREATE DATABASE app; CREATE TABLE app.items (id int PRIMARY KEY) ENGINE=InnoDB")
	password := "phys-" + testenv.Name("pw")
	my.Exec(t, "", fmt.Sprintf(`CREATE USER 'phys'@'%%' IDENTIFIED BY '%s';
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, REPLICATION SLAVE, SHOW DATABASES ON *.* TO 'phys'@'%%';
GRANT SELECT, CREATE, INSERT, DELETE ON app.* TO 'phys'@'%%';`, password))
	w := newWorld(t)
	primary, drcs := twoDRCs(t)
	w.config(drcs + fmt.Sprintf(`agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - name: whole
    agency: dinkes
    kind: mysql
    mysql: {host: 127.0.0.1, port: %d, all: true, database: app, method: physical, user: phys, password_file: %s, mode: continuous, archive_interval: 2s}
    drill:
      checks: ["SELECT COUNT(*) = 60 FROM items"]
  - name: nightly
    agency: dinkes
    kind: mysql
    mysql: {host: 127.0.0.1, port: %d, all: true, method: physical, user: phys, password_file: %s}
    drill:
      checks: ["SELECT COUNT(*) = 0 FROM app.items"]
`, my.Port, testenv.SecretFile(t, password), my.Port, testenv.SecretFile(t, password)))
	w.startDaemon()
	if ri, r := w.backupJSON("whole"); ri.Status != "succeeded" {
		t.Fatalf("physical backup: %s", r)
	}
	// A physical target without the binary log: its drill through the daemon starts a
	// scratch server on the copy (the engine hands the drill's steps a reader before it
	// picks the snapshot: the steps follow the target's method).
	if ri, r := w.backupJSON("nightly"); ri.Status != "succeeded" {
		t.Fatalf("physical backup: %s", r)
	}
	if r := w.must("drill", "nightly", "--drc", "local", "--wait"); !strings.Contains(r.stdout, "succeeded: drill of nightly") {
		t.Fatalf("drill of a physical backup:\n%s\n%s", r, w.log())
	}
	if _, res := drillRuns(t, w, "nightly"); len(res) != 1 || !res[0].Passed || len(res[0].Checks) != 3 {
		t.Errorf("drill of a physical backup: %+v", res)
	} else {
		var keys []string
		for _, s := range res[0].Steps {
			keys = append(keys, s.Key)
		}
		if got := strings.Join(keys, " "); got != "snapshot packs restore start verify-tables verify-checks cleanup" {
			t.Errorf("drill of a physical backup: steps %s", got)
		}
	}

	insert := func(from, to int) { insertItems(t, my, from, to) }
	insert(1, 30)
	my.Exec(t, "", "CREATE USER late_user@'%' IDENTIFIED BY 'late-secret'; CREATE DATABASE arsip; CREATE TABLE arsip.surat (id int PRIMARY KEY); INSERT INTO arsip.surat VALUES (7)")
	time.Sleep(1100 * time.Millisecond) // binlog events carry whole seconds
	at := my.Query(t, "", "SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%d %H:%i:%s.%f+00')")
	time.Sleep(1100 * time.Millisecond)
	insert(31, 60)
	my.Exec(t, "", "INSERT INTO arsip.surat VALUES (8)")
	binlogArchived(t, w, my, "whole")

	// A drill from the off-site DRC: the copy replayed to T on a scratch server.
	tr := pointInTimeDrill(t, w, "whole", "offsite", "probe binlog restore start verify-probe verify-tables verify-checks cleanup")
	passed := 0
	for _, ch := range tr.Checks {
		if ch.Passed {
			passed++
		}
	}
	if len(tr.Checks) != 4 || passed != 4 {
		t.Errorf("drill checks (packs, point in time, tables, drill.checks): %+v", tr.Checks)
	}
	if n := my.Query(t, "app", "SELECT COUNT(*) FROM cadang_drill_probe"); n != "0" {
		t.Errorf("%s probe rows left at production", n)
	}
	if out, _ := exec.Command("pgrep", "-f", "--datadir="+w.stateDir).Output(); len(out) > 0 {
		t.Errorf("a scratch server still runs: %s", out)
	}

	// From the off-site DRC alone: the primary's MinIO stopped.
	w.must("drc", "sync", "--wait")
	primary.Stop()
	data := filepath.Join(testenv.MySQLDir(t, "cadang-e2e-physical-"), "data")
	start := time.Now()
	w.must("restore", "whole", "--drc", "offsite", "--to-time", at, "--to", data)
	t.Logf("whole server to a time from the off-site DRC: restore, prepare and replay took %s", time.Since(start).Round(time.Millisecond))
	b := testenv.StartMariaDBOn(t, data)
	for q, want := range map[string]string{
		"SELECT CONCAT(COUNT(*), ' ', MAX(id)) FROM app.items":     "30 30",
		"SELECT GROUP_CONCAT(id) FROM arsip.surat":                 "7",
		"SELECT COUNT(*) FROM mysql.user WHERE User = 'late_user'": "1",
	} {
		if got := b.Query(t, "", q); got != want {
			t.Errorf("%s on the server restored to T: %q, want %q", q, got, want)
		}
	}
}

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// TestPostgresPointInTime: a postgres target in mode: continuous, end to end through
// the daemon. pg setup --apply sets the server's archive_command to `cadang wal-push`;
// a base backup; rows written one by one with a time T noted between two of them; the
// daemon killed while PostgreSQL archives (its archive_command fails and is retried:
// nothing lost, no gap); a restore to T through `cadang restore --to-time` holds
// exactly the rows committed before T, from the off-site DRC alone with the primary's
// MinIO stopped (two real MinIO servers). A hole in the spool's chain is an alarm
// naming the missing segment. A server without activity is graded within its RPO.
func TestPostgresPointInTime(t *testing.T) {
	t.Parallel()
	c := testenv.NewArchivingPG(t)
	w := newWorld(t)
	primary, drcs := twoDRCs(t)
	// PostgreSQL's archive_command runs as the postgres user: it must reach the cadang
	// binary and the daemon's WAL socket.
	for _, d := range []string{filepath.Dir(cadangBin), w.dir, filepath.Dir(w.dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	password := "pitr-" + testenv.Name("pw")
	c.Query(t, c.Port, "postgres", fmt.Sprintf("CREATE ROLE pitr LOGIN SUPERUSER REPLICATION PASSWORD '%s'; CREATE DATABASE app OWNER pitr;", password))
	c.Query(t, c.Port, "app", "CREATE TABLE rows (id int PRIMARY KEY)")
	w.config(drcs + fmt.Sprintf(`agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - name: pg
    agency: dinkes
    kind: postgres
    postgres: {host: 127.0.0.1, port: %d, database: app, user: pitr, password_file: %s, bin_dir: %s, mode: continuous, archive_interval: 2s}
`, c.Port, testenv.SecretFile(t, password), c.Bin))
	w.startDaemon()
	if err := os.Chmod(w.stateDir, 0o711); err != nil {
		t.Fatal(err)
	}

	// Before pg setup: the run fails naming the setting.
	if ri, _ := w.backupJSON("pg"); ri.Status != "failed" || !strings.Contains(ri.Error, "archive_command") {
		t.Fatalf("backup before pg setup: %s %s", ri.Status, ri.Error)
	}
	if r := w.cadang("pg", "setup", "pg"); r.code != 1 || !strings.Contains(r.stdout, "archive_command") {
		t.Fatalf("pg setup (print): %s", r)
	}
	w.must("pg", "setup", "pg", "--apply")
	if ri, r := w.backupJSON("pg"); ri.Status != "succeeded" {
		t.Fatalf("base backup: %s", r)
	}

	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			c.Query(t, c.Port, "app", fmt.Sprintf("INSERT INTO rows VALUES (%d)", i))
		}
	}
	spool := filepath.Join(w.stateDir, "wal", "spool", "pg")
	flushed := func(segment string) {
		t.Helper()
		c.WaitArchived(t, segment, time.Minute)
		deadline := time.Now().Add(time.Minute)
		for {
			left, _ := filepath.Glob(filepath.Join(spool, "0*"))
			if len(left) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("spool still holds %v:\n%s", left, w.log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	insert(1, 30)
	at := c.Query(t, c.Port, "app", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
	time.Sleep(20 * time.Millisecond)
	insert(31, 60)
	flushed(c.Query(t, c.Port, "app", "SELECT pg_walfile_name(pg_switch_wal())"))

	// The daemon away: archive_command fails, PostgreSQL keeps the segments.
	w.stopDaemon(syscall.SIGTERM, time.Minute)
	insert(61, 70)
	last := c.Query(t, c.Port, "app", "SELECT pg_walfile_name(pg_switch_wal())")
	deadline := time.Now().Add(30 * time.Second)
	for c.Query(t, c.Port, "postgres", "SELECT failed_count > 0 FROM pg_stat_archiver") != "t" {
		if time.Now().After(deadline) {
			t.Fatal("archive_command never failed while the daemon was down")
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.startDaemon()
	flushed(last)
	if _, body := w.get("/v1/alarms"); strings.Contains(body, "wal-gap") {
		t.Fatalf("a gap after the daemon came back: %s", body)
	}
	var st api.Status
	mustJSON(t, w.must("status", "--json").stdout, &st)
	for _, ts := range st.TargetStatus {
		if ts.Name == "pg" && ts.RPOSeconds != 4 {
			t.Errorf("rpo of a continuous target with archive_interval 2s: %vs, want 4s (twice the interval)", ts.RPOSeconds)
		}
	}
	// A server without activity writes no WAL, so no batch: nothing is at risk, and the
	// RPO grade at the primary is ok although the newest snapshot is older than the RPO.
	idleStart := time.Now()
	testenv.Eventually(t, 90*time.Second, "the RPO grade of an idle server ok with a snapshot older than the RPO", func() bool {
		var st api.Status
		mustJSON(t, w.must("status", "--json").stdout, &st)
		for _, ts := range st.TargetStatus {
			if ts.Name == "pg" && ts.NewestGood != nil && time.Since(*ts.NewestGood) > 6*time.Second && ts.RPOGrade["local"] == "ok" {
				return true
			}
		}
		time.Sleep(500 * time.Millisecond)
		return false
	})
	t.Logf("idle server graded ok after %s", time.Since(idleStart).Round(time.Second))

	// A drill restores to a point in time from the off-site DRC (pitr_drill_test.go).
	drillToPointInTime(t, w, c, "offsite")

	// Restore to the end of the archive, and to T from the off-site DRC alone.
	w.must("drc", "sync", "--wait")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		// Rows 61-70 were archived while the daemon was down: nothing lost.
		{"latest", nil, "70 70"},
		// (targets/postgres restores to a time from the primary; here from the other.)
		{"to a time from the off-site DRC", []string{"--to-time", at, "--drc", "offsite"}, "30 30"},
	} {
		if tc.name == "to a time from the off-site DRC" {
			primary.Stop() // the primary DRC down
		}
		data := filepath.Join(testenv.PostgresDir(t, "restore"), "data")
		start := time.Now()
		w.must(append([]string{"restore", "pg", "--to", data}, tc.args...)...)
		t.Logf("%s: restore and recovery took %s", tc.name, time.Since(start).Round(time.Millisecond))
		port := testenv.FreePort(t)
		c.Start(t, data, port, "-c", "listen_addresses=")
		if got := c.Query(t, port, "app", "SELECT count(*) || ' ' || coalesce(max(id), 0) FROM rows"); got != tc.want {
			t.Errorf("%s: restored rows (count, max id) %s, want %s", tc.name, got, tc.want)
		}
	}
	logReadAtOnce(t, w, "WAL")

	// A hole in the chain: the segment after the last archived one is missing from the
	// spool when the next one is there. PostgreSQL stops archiving first (an empty
	// archive_command), or it could push the missing segment itself once the daemon is
	// back (archive_timeout switches segments on background WAL too), and the spool is
	// emptied of what was pushed but not yet stored.
	c.Query(t, c.Port, "postgres", "ALTER SYSTEM SET archive_command = ''")
	c.Query(t, c.Port, "postgres", "SELECT pg_reload_conf()")
	w.stopDaemon(syscall.SIGTERM, time.Minute)
	pending, _ := filepath.Glob(filepath.Join(spool, "0*"))
	for _, p := range pending {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	primary.Start()
	lastArchived, err := os.ReadFile(filepath.Join(spool, ".last-archived"))
	if err != nil {
		t.Fatal(err)
	}
	la := strings.TrimSpace(string(lastArchived))
	missing, after2 := nextSegment(t, la, 1), nextSegment(t, la, 2)
	if err := os.WriteFile(filepath.Join(spool, after2), []byte("not a real segment"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.startDaemon()
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, body := w.get("/v1/alarms")
		if strings.Contains(body, "wal-gap") && strings.Contains(body, "WAL segment "+missing+" is missing") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alarm naming %s: %s", missing, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// nextSegment is the name of the segment n after name (1 MiB segments, as
// testenv.NewArchivingPG makes them: 0x1000 to a log id).
func nextSegment(t *testing.T, name string, n uint64) string {
	var tl, log, seg uint64
	if _, err := fmt.Sscanf(name, "%08X%08X%08X", &tl, &log, &seg); err != nil {
		t.Fatalf("%q: %v", name, err)
	}
	num := log*0x1000 + seg + n
	return fmt.Sprintf("%08X%08X%08X", tl, num/0x1000, num%0x1000)
}

// logReadAtOnce checks in the daemon's log that the restores read their log snapshots
// (what: WAL, binlog) themselves, all at once (engine/runs restoreLog), and never fell
// back to one restic process each.
func logReadAtOnce(t *testing.T, w *world, what string) {
	t.Helper()
	l := w.log()
	if !strings.Contains(l, `msg="log restored"`) || !strings.Contains(l, "what="+what) || strings.Contains(l, "reading the log snapshots directly failed") {
		t.Errorf("the %s snapshots were not read at once:\n%s", what, tail(l, 3000))
	}
}

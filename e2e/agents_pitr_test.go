package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// A postgres target in mode: continuous pinned to an agent (a `cadang agent` process
// with a wal_socket): PostgreSQL's archive_command pushes to the agent, which refuses
// the WAL of a target it never ran a base backup of; the base backup and every WAL
// batch run on the agent and name it; a restore to a time T holds exactly the rows
// committed before T, and the latest restore every row; a hole in the agent's spool
// is an alarm at the controller naming the missing segment.
func TestPostgresContinuousOnAgent(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := testenv.NewArchivingPG(t)
	w := newWorld(t)
	listen := freePort(t)
	dir, entry := enrollAgent(t, w, "db-01", "", "nats://"+listen)
	// archive_command runs as the postgres user: it must reach the cadang binary and
	// the agent's socket (outside its 0700 folder).
	socket := filepath.Join(w.dir, "agent-wal", "push.sock")
	for _, d := range []string{filepath.Dir(cadangBin), w.dir, filepath.Dir(w.dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "agent.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "wal_socket: %s\n", socket)
	f.Close()
	password := "pitr-" + testenv.Name("pw")
	c.Query(t, c.Port, "postgres", fmt.Sprintf("CREATE ROLE pitr LOGIN SUPERUSER REPLICATION PASSWORD '%s'; CREATE DATABASE app OWNER pitr;", password))
	c.Query(t, c.Port, "app", "CREATE TABLE rows (id int PRIMARY KEY)")
	w.config(pathDRC(w)+fmt.Sprintf(`agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - name: pg
    agency: dinkes
    kind: postgres
    agent: db-01
    postgres: {host: 127.0.0.1, port: %d, database: app, user: pitr, password_file: %s, bin_dir: %s, mode: continuous, archive_interval: 2s}
`, c.Port, testenv.SecretFile(t, password), c.Bin), "cluster:\n  listen: "+listen+"\n  agents:\n"+entry)
	w.must("init")
	w.startDaemon()
	startAgent(t, dir)
	waitFor(t, "the agent up", 30*time.Second, func() (bool, string) {
		r := w.cadang("agents", "--json")
		var agents []struct{ Up bool }
		if r.code == 0 {
			mustJSON(t, r.stdout, &agents)
		}
		return len(agents) == 1 && agents[0].Up, r.String()
	})

	// The daemon's own socket refuses the target's WAL: spooled there, no batch would
	// store it.
	seg := filepath.Join(w.dir, "000000010000000000000001")
	if err := os.WriteFile(seg, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := w.cadang("wal-push", "--socket", filepath.Join(w.stateDir, "wal", "push.sock"), "--target", "pg", seg); r.code == 0 || !strings.Contains(r.stderr, "runs on agent db-01") {
		t.Errorf("wal-push of an agent's target to the daemon: %s", r)
	}
	if r := w.cadang("pg", "setup", "pg"); r.code != 2 || !strings.Contains(r.stderr, "runs on agent db-01: give --socket") {
		t.Fatalf("pg setup of an agent's target without --socket: %s", r)
	}
	w.must("pg", "setup", "pg", "--socket", socket, "--apply")
	// Before the first base backup the agent refuses the target's WAL: PostgreSQL keeps
	// it and tries again.
	c.Query(t, c.Port, "app", "INSERT INTO rows VALUES (0)")
	c.Query(t, c.Port, "app", "DELETE FROM rows")
	c.Query(t, c.Port, "app", "SELECT pg_switch_wal()")
	waitFor(t, "archive_command refused before the base backup", 30*time.Second, func() (bool, string) {
		return c.Query(t, c.Port, "postgres", "SELECT failed_count > 0 FROM pg_stat_archiver") == "t", ""
	})
	if b, _ := os.ReadFile(filepath.Join(dir, "agent.log")); !strings.Contains(string(b), `is not a continuous target of agent db-01 yet`) {
		t.Errorf("the agent's log does not say why it refused the WAL:\n%s", b)
	}

	t.Logf("%s: set up, the WAL refused before the base backup", time.Since(start).Round(time.Millisecond))
	base, r := w.backupJSON("pg")
	if base.Status != api.Succeeded || base.Agent != "db-01" {
		t.Fatalf("base backup on the agent: agent %q: %s\n%s", base.Agent, r, w.log())
	}
	spool := filepath.Join(dir, "scratch", "wal", "pg")
	flushed := func(segment string) {
		t.Helper()
		c.WaitArchived(t, segment, time.Minute)
		waitFor(t, "the agent's spool emptied", time.Minute, func() (bool, string) {
			left, _ := filepath.Glob(filepath.Join(spool, "0*"))
			return len(left) == 0, fmt.Sprint(left)
		})
	}
	for i := 1; i <= 30; i++ {
		c.Query(t, c.Port, "app", fmt.Sprintf("INSERT INTO rows VALUES (%d)", i))
	}
	at := c.Query(t, c.Port, "app", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
	time.Sleep(20 * time.Millisecond)
	for i := 31; i <= 60; i++ {
		c.Query(t, c.Port, "app", fmt.Sprintf("INSERT INTO rows VALUES (%d)", i))
	}
	flushed(c.Query(t, c.Port, "app", "SELECT pg_walfile_name(pg_switch_wal())"))
	t.Logf("%s: base backup and WAL batches on the agent", time.Since(start).Round(time.Millisecond))
	batches := 0
	for _, ri := range w.runs("pg") {
		if ri.Reason == "wal-archive" {
			batches++
			if ri.Agent != "db-01" || ri.Status != api.Succeeded {
				t.Errorf("WAL batch run %d: agent %q, %s %s", ri.ID, ri.Agent, ri.Status, ri.Error)
			}
		}
	}
	if batches == 0 {
		t.Fatalf("no WAL batch run recorded:\n%s", w.log())
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"latest", nil, "60 60"},
		{"to a time", []string{"--to-time", at}, "30 30"},
	} {
		data := filepath.Join(testenv.PostgresDir(t, "restore"), "data")
		w.must(append([]string{"restore", "pg", "--to", data}, tc.args...)...)
		port := testenv.FreePort(t)
		c.Start(t, data, port, "-c", "listen_addresses=")
		if got := c.Query(t, port, "app", "SELECT count(*) || ' ' || coalesce(max(id), 0) FROM rows"); got != tc.want {
			t.Errorf("%s: restored rows (count, max id) %s, want %s", tc.name, got, tc.want)
		}
	}

	t.Logf("%s: restored", time.Since(start).Round(time.Millisecond))
	// A hole in the agent's spool: PostgreSQL stops archiving (or it would push the
	// missing segment itself), and a segment two after the last archived one appears.
	c.Query(t, c.Port, "postgres", "ALTER SYSTEM SET archive_command = ''")
	c.Query(t, c.Port, "postgres", "SELECT pg_reload_conf()")
	flushed("")
	la, err := os.ReadFile(filepath.Join(spool, ".last-archived"))
	if err != nil {
		t.Fatal(err)
	}
	missing, after2 := nextSegment(t, strings.TrimSpace(string(la)), 1), nextSegment(t, strings.TrimSpace(string(la)), 2)
	if err := os.WriteFile(filepath.Join(spool, after2), []byte("not a real segment"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an alarm naming "+missing, 30*time.Second, func() (bool, string) {
		_, body := w.get("/v1/alarms")
		return strings.Contains(body, "wal-gap") && strings.Contains(body, "WAL segment "+missing+" is missing"), body
	})
	t.Logf("%s: the hole named", time.Since(start).Round(time.Millisecond))
	// The file after the hole is stored by the next batch; none is left running for the
	// end of the test (a daemon stopping waits for its runs).
	flushed("")
	waitFor(t, "no run of pg running", time.Minute, func() (bool, string) {
		for _, ri := range w.runs("pg") {
			if ri.Status == api.Running || ri.Status == api.Queued {
				return false, fmt.Sprint(ri.ID, ri.Status)
			}
		}
		return true, ""
	})
}

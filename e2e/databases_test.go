package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets/dbdump"
)

// forwarder is a TCP port in front of a server that can go away and come back on the
// same port: a database server that becomes unreachable (connection refused).
type forwarder struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newForwarder(t *testing.T, target string) *forwarder {
	f := &forwarder{t: t, addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), target: target, conns: map[net.Conn]bool{}}
	f.up()
	t.Cleanup(f.down)
	return f
}

func (f *forwarder) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

func (f *forwarder) up() {
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.ln = ln
	f.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.pipe(c)
		}
	}()
}

func (f *forwarder) pipe(c net.Conn) {
	s, err := net.Dial("tcp", f.target)
	if err != nil {
		c.Close()
		return
	}
	f.mu.Lock()
	f.conns[c], f.conns[s] = true, true
	f.mu.Unlock()
	go func() { _, _ = io.Copy(s, c); s.Close() }()
	_, _ = io.Copy(c, s)
	c.Close()
}

// down closes the port: connections are refused until up.
func (f *forwarder) down() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ln.Close()
	for c := range f.conns {
		c.Close()
	}
	clear(f.conns)
}

// goodSnapshots lists the ids of a target's good snapshots.
func goodSnapshots(t *testing.T, w *world, target string) []string {
	t.Helper()
	var snaps []api.SnapshotInfo
	mustJSON(t, w.must("snapshots", target, "--json").stdout, &snaps)
	var ids []string
	for _, s := range snaps {
		if s.Status == "good" {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// backupAsync starts `backup --wait --json` and returns a channel with its result.
func backupAsync(w *world, target string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		cmd := exec.Command(cadangBin, "backup", target, "--wait", "--json")
		cmd.Env = append(os.Environ(), "CADANG_CONFIG="+w.cfgFile)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		ch <- result{stdout: out.String(), stderr: errb.String(), code: code}
	}()
	return ch
}

// failure is one way a database backup goes wrong: break makes it happen, mend undoes
// it, want is (part of) the one-line reason the run must give.
type failure struct {
	name   string
	want   string
	break_ func(t *testing.T)
	mend   func(t *testing.T)
	// during, if set, acts while the backup runs (the backup is started by the test).
	during func(t *testing.T)
}

// checkFailures runs each failure against a target that has one good snapshot: each
// ends as a failed run whose one-line reason is the tool's own, leaves no good snapshot
// behind, and `latest` still restores the good one.
func checkFailures(t *testing.T, w *world, target string, failures []failure) string {
	t.Helper()
	first, r := w.backupJSON(target)
	if r.code != 0 || first.Status != "succeeded" || first.SnapshotID == "" {
		t.Fatalf("first backup: %s", r)
	}
	var m dbdump.Manifest
	if err := json.Unmarshal(first.Manifest, &m); err != nil || len(m.Databases) != 1 || len(m.Databases[0].Tables) == 0 {
		t.Fatalf("the run's manifest: %v: %s", err, first.Manifest)
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			f.break_(t)
			var ri api.RunInfo
			if f.during != nil {
				ch := backupAsync(w, target)
				f.during(t)
				r = <-ch
			} else {
				ri, r = w.backupJSON(target)
			}
			f.mend(t)
			if f.during != nil {
				mustJSON(t, r.stdout, &ri)
			}
			if r.code != 1 || ri.Status != "failed" {
				t.Fatalf("want a failed run (exit 1), got %s", r)
			}
			t.Logf("run %d: %s", ri.ID, ri.Error)
			if !strings.Contains(ri.Error, f.want) || !testenv.OneLine(ri.Error) {
				t.Errorf("run error:\n got %q\nwant one line containing %q", ri.Error, f.want)
			}
			if ri.SnapshotID != "" || len(ri.Manifest) != 0 {
				t.Errorf("a failed run has a snapshot %q or a manifest", ri.SnapshotID)
			}
			if good := goodSnapshots(t, w, target); len(good) != 1 || good[0] != first.SnapshotID {
				t.Errorf("good snapshots after the failure: %v, want only %s", good, first.SnapshotID)
			}
		})
	}
	if strings.Contains(w.log(), "secret-") {
		t.Error("a password reached the daemon's log")
	}
	return first.SnapshotID
}

func TestPostgresTarget(t *testing.T) {
	t.Parallel()
	pg := testenv.Postgres(t)
	w := newWorld(t)
	fw := newForwarder(t, fmt.Sprintf("%s:%d", pg.Host, pg.Port))
	password := "secret-" + testenv.Name("pw")
	role := pg.CreateRole(t, "cadang_e2e", password, "CREATEDB")
	db := testenv.Name("cadang_e2e")
	pg.Exec(t, "postgres", fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, role))
	pg.DropDBAtCleanup(t, db)
	pg.Exec(t, db, fmt.Sprintf(`SET ROLE %s;
CREATE TABLE pasien (id serial PRIMARY KEY, nama text, data jsonb);
INSERT INTO pasien (nama, data) SELECT 'pasien ' || g, jsonb_build_object('g', g) FROM generate_series(1, 1000) g;
RESET ROLE;
CREATE TABLE rahasia (id int PRIMARY KEY, isi text);
INSERT INTO rahasia VALUES (1, 'rahasia negara');
GRANT SELECT ON rahasia TO %s;`, role, role))
	passFile := testenv.SecretFile(t, password)
	w.config(pathDRC(w) + fmt.Sprintf(`agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - name: simpus-db
    agency: dinkes
    kind: postgres
    postgres: {host: 127.0.0.1, port: %d, database: %s, user: %s, password_file: %s}
`, fw.port(), db, role, passFile))
	w.startDaemon()

	var lock *exec.Cmd
	var lockIn io.WriteCloser
	good := checkFailures(t, w, "simpus-db", []failure{
		{name: "server unreachable", want: fmt.Sprintf(`psql: error: connection to server at "127.0.0.1", port %d failed: Connection refused`, fw.port()),
			break_: func(t *testing.T) { fw.down() }, mend: func(t *testing.T) { fw.up() }},
		{name: "wrong password", want: fmt.Sprintf(`FATAL:  password authentication failed for user "%s"`, role),
			break_: func(t *testing.T) { writeFile(t, passFile, "not-the-password\n") },
			mend:   func(t *testing.T) { writeFile(t, passFile, password+"\n") }},
		{name: "permission denied on one table", want: "pg_dump: error: query failed: ERROR:  permission denied for table rahasia",
			break_: func(t *testing.T) { pg.Exec(t, db, "REVOKE SELECT ON rahasia FROM "+role) },
			mend:   func(t *testing.T) { pg.Exec(t, db, "GRANT SELECT ON rahasia TO "+role) }},
		{name: "database missing", want: fmt.Sprintf(`FATAL:  database "%s" does not exist`, db),
			break_: func(t *testing.T) {
				pg.Exec(t, "postgres", fmt.Sprintf("ALTER DATABASE %s RENAME TO %s_moved", db, db))
			},
			mend: func(t *testing.T) {
				pg.Exec(t, "postgres", fmt.Sprintf("ALTER DATABASE %s_moved RENAME TO %s", db, db))
			}},
		{name: "dump killed midway", want: "pg_dump: error:",
			// A lock holds pg_dump back; its server process is then terminated.
			break_: func(t *testing.T) {
				lock = exec.Command("psql", "-X", "-q", "-h", "/var/run/postgresql", "-p", fmt.Sprint(pg.Port), "-d", db)
				lock.Env = append(os.Environ(), "PGAPPNAME=cadang test lock")
				lockIn, _ = lock.StdinPipe()
				if err := lock.Start(); err != nil {
					t.Fatal(err)
				}
				_, _ = io.WriteString(lockIn, "BEGIN; LOCK TABLE pasien IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);\n")
			},
			during: func(t *testing.T) {
				q := fmt.Sprintf("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s' AND application_name = 'cadang pg_dump' AND wait_event_type = 'Lock'", db)
				deadline := time.Now().Add(time.Minute)
				for pg.Query(t, "postgres", q) != "1" {
					if time.Now().After(deadline) {
						t.Fatal("pg_dump never waited on the lock")
					}
					time.Sleep(20 * time.Millisecond)
				}
			},
			mend: func(t *testing.T) {
				// The server goes on sleeping with the lock when the client dies: end it there.
				pg.Exec(t, "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cadang test lock'")
				_ = lock.Process.Kill()
				_ = lock.Wait()
			}},
	})

	// latest is still the good snapshot; it restores into a new database (as the
	// administrator: a table of the dump belongs to it).
	newDB := testenv.Name("cadang_e2e_restored")
	pg.DropDBAtCleanup(t, newDB)
	var ri api.RunInfo
	mustJSON(t, w.must("restore", "simpus-db", "--snapshot", "latest", "--to", pg.AdminURL(newDB), "--json").stdout, &ri)
	if ri.SnapshotID != good || ri.Status != "succeeded" {
		t.Errorf("restore of latest: snapshot %s (%s), want the good %s", ri.SnapshotID, ri.Status, good)
	}
	for _, table := range []string{"pasien", "rahasia"} {
		q := "SELECT count(*) || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM " + table + " t"
		if got, want := pg.Query(t, newDB, q), pg.Query(t, db, q); got != want {
			t.Errorf("restored %s: %s, want %s", table, got, want)
		}
	}
	// A second restore into it is refused: it holds data now.
	r := w.cadang("restore", "simpus-db", "--to", pg.AdminURL(newDB))
	if r.code != 1 || !testenv.OneLine(r.stderr) || !strings.Contains(r.stderr, "destination exists and is not empty (restore to a new name or use --force)") {
		t.Errorf("restore into a database that holds data: %s", r)
	}
	// To a file, relative to the working directory: the raw dump.
	r = w.must("restore", "simpus-db", "--to", filepath.Join(w.dir, "simpus.pgc"))
	if b, err := os.ReadFile(filepath.Join(w.dir, "simpus.pgc")); err != nil || !bytes.HasPrefix(b, []byte("PGDMP")) {
		t.Errorf("restore to a file: %v %s", err, r)
	}
}

func TestMySQLTarget(t *testing.T) {
	t.Parallel()
	my := testenv.MariaDB(t)
	w := newWorld(t)
	fw := newForwarder(t, fmt.Sprintf("%s:%d", my.Host, my.Port))
	password := "secret-" + testenv.Name("pw")
	user := my.CreateUser(t, "cadang_e2e", password)
	db := my.CreateDB(t, "cadang_e2e")
	my.Exec(t, db, `CREATE TABLE pasien (id INT AUTO_INCREMENT PRIMARY KEY, nama VARCHAR(100), data JSON) ENGINE=InnoDB;
INSERT INTO pasien (nama, data) SELECT CONCAT('pasien ', seq), JSON_OBJECT('g', seq) FROM seq_1_to_1000;
CREATE TABLE rahasia (id INT PRIMARY KEY, isi TEXT) ENGINE=InnoDB;
INSERT INTO rahasia VALUES (1, 'rahasia negara');`)
	// Table-level grants, so that one table's SELECT can be taken away (INSERT keeps the
	// table visible: a table the user cannot see at all is silently left out by the dump).
	my.Exec(t, "", fmt.Sprintf(`GRANT SELECT ON %[1]s.pasien TO '%[2]s'@'%%'; GRANT SELECT, INSERT ON %[1]s.rahasia TO '%[2]s'@'%%';
GRANT SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON %[1]s.* TO '%[2]s'@'%%'; GRANT RELOAD, PROCESS ON *.* TO '%[2]s'@'%%';
GRANT ALL PRIVILEGES ON `+"`%[1]s`"+`.* TO '%[2]s'@'%%';`, db, user))
	// (ALL on the database is for the restore that brings it back below; it is granted
	// by name, so the REVOKE of table-level SELECT below still bites: revoke it first.)
	my.Exec(t, "", fmt.Sprintf("REVOKE ALL PRIVILEGES ON `%s`.* FROM '%s'@'%%'; GRANT SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON `%s`.* TO '%s'@'%%';", db, user, db, user))
	// SELECT on mysql.proc: the README's grants, without which the routines cannot be checked.
	my.Exec(t, "", fmt.Sprintf("GRANT SELECT ON mysql.proc TO '%s'@'%%'", user))
	passFile := testenv.SecretFile(t, password)
	w.config(pathDRC(w) + fmt.Sprintf(`agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - name: simpus-my
    agency: dinkes
    kind: mysql
    mysql: {host: 127.0.0.1, port: %d, database: %s, user: %s, password_file: %s}
`, fw.port(), db, user, passFile))
	w.startDaemon()

	var lock *exec.Cmd
	var lockIn io.WriteCloser
	good := checkFailures(t, w, "simpus-my", []failure{
		{name: "server unreachable", want: "ERROR 2002 (HY000): Can't connect to server on '127.0.0.1'",
			break_: func(t *testing.T) { fw.down() }, mend: func(t *testing.T) { fw.up() }},
		{name: "wrong password", want: fmt.Sprintf("ERROR 1045 (28000): Access denied for user '%s'@'localhost' (using password: YES)", user),
			break_: func(t *testing.T) { writeFile(t, passFile, "not-the-password\n") },
			mend:   func(t *testing.T) { writeFile(t, passFile, password+"\n") }},
		{name: "permission denied on one table", want: fmt.Sprintf("SELECT command denied to user '%s'@'localhost' for table `%s`.`rahasia`", user, db),
			break_: func(t *testing.T) {
				my.Exec(t, "", fmt.Sprintf("REVOKE SELECT ON %s.rahasia FROM '%s'@'%%'", db, user))
			},
			mend: func(t *testing.T) { my.Exec(t, "", fmt.Sprintf("GRANT SELECT ON %s.rahasia TO '%s'@'%%'", db, user)) }},
		{name: "dump killed midway", want: "mariadb-dump: ",
			// A table lock holds the dump back; its connection is then killed.
			break_: func(t *testing.T) {
				lock = exec.Command("mariadb", "--protocol=socket", "-S", my.Socket, "--database="+db)
				lockIn, _ = lock.StdinPipe()
				if err := lock.Start(); err != nil {
					t.Fatal(err)
				}
				_, _ = io.WriteString(lockIn, "LOCK TABLES pasien WRITE; SELECT SLEEP(600);\n")
			},
			during: func(t *testing.T) {
				q := fmt.Sprintf("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '%s' AND INFO LIKE 'SELECT /*!40001 SQL_NO_CACHE */ %%'", user)
				deadline := time.Now().Add(time.Minute)
				for {
					if id := my.Query(t, "", q); id != "" {
						my.Exec(t, "", "KILL "+id)
						return
					}
					if time.Now().After(deadline) {
						t.Fatal("the dump never waited on the lock")
					}
					time.Sleep(20 * time.Millisecond)
				}
			},
			mend: func(t *testing.T) {
				// The server goes on sleeping with the lock when the client dies: end it there.
				if id := my.Query(t, "", "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(600)%'"); id != "" {
					my.Exec(t, "", "KILL "+id)
				}
				_ = lock.Process.Kill()
				_ = lock.Wait()
			}},
		{name: "database missing", want: fmt.Sprintf("ERROR 1049 (42000): Unknown database '%s'", db),
			break_: func(t *testing.T) { my.Exec(t, "", "DROP DATABASE "+db) },
			mend:   func(t *testing.T) {}},
	})

	// The database is gone; latest (still the good snapshot) brings it back under its
	// own name, as root over the socket.
	var ri api.RunInfo
	mustJSON(t, w.must("restore", "simpus-my", "--snapshot", "latest", "--to", "mysql://localhost/"+db+"?user=root&socket="+my.Socket, "--json").stdout, &ri)
	if ri.SnapshotID != good || ri.Status != "succeeded" {
		t.Errorf("restore of latest: snapshot %s (%s), want the good %s", ri.SnapshotID, ri.Status, good)
	}
	if got := my.Query(t, db, "SELECT COUNT(*), SUM(id), (SELECT isi FROM rahasia) FROM pasien"); got != "1000\t500500\trahasia negara" {
		t.Errorf("restored database: %q", got)
	}
	if r := w.cadang("restore", "simpus-my", "--to", "mysql://localhost/"+db+"?user=root&socket="+my.Socket); r.code != 1 ||
		!strings.Contains(r.stderr, "destination exists and is not empty") {
		t.Errorf("restore into a database that holds data: %s", r)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

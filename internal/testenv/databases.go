package testenv

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PG is a PostgreSQL server of a test: the machine's (installed and started by
// e2e/setup/services.d/10-postgres.sh) or a private cluster. Tests reach it as a client
// would, over TCP on Host:Port with password roles; set-up and checks go through an
// administrator connection on the local socket.
type PG struct {
	Host string // 127.0.0.1
	Port int

	socketDir string
	adminUser string // the system server: the OS user's role (peer authentication)
	bin       string // folder of psql, or "" for PATH
}

// AdminURL is a postgres:// URL (as cadang's restores take) for the administrator over
// the local socket.
func (p *PG) AdminURL(db string) string {
	u := fmt.Sprintf("postgres://localhost:%d/%s?host=%s", p.Port, db, p.socketDir)
	if p.adminUser != "" {
		u += "&user=" + p.adminUser
	}
	return u
}

// Postgres returns the machine's PostgreSQL server, or skips.
func Postgres(t testing.TB) *PG {
	t.Helper()
	p := &PG{Host: "127.0.0.1", Port: 5432, socketDir: "/var/run/postgresql"}
	if u, err := user.Current(); err == nil {
		p.adminUser = u.Username // peer authentication: the role of the OS user
	}
	if _, err := exec.LookPath("psql"); err != nil {
		Skip(t, "PostgreSQL client tools are not installed: run `make services` (e2e/setup/services.d/10-postgres.sh)")
	}
	if out, err := p.psql("postgres", "SELECT 1", true); err != nil {
		Skip(t, "PostgreSQL is not running or lets no superuser in over the local socket (%s): run `make services`", firstLine(out))
	}
	return p
}

// NewPostgresCluster starts a private PostgreSQL cluster (initdb) on a free loopback port,
// stopped and removed when the test ends: for tests that need a whole server of their
// own (roles are per server) or a second, empty one.
func NewPostgresCluster(t testing.TB) *PG {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		Skip(t, "PostgreSQL server binaries (initdb) are not installed: run `make services` (it installs postgresql)")
	}
	sort.Slice(bins, func(i, j int) bool { return version(bins[i]) < version(bins[j]) })
	bin := filepath.Dir(bins[len(bins)-1])
	dir, err := os.MkdirTemp("", "cadang-pgcluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cred := runAsPostgres(t, dir)
	p := &PG{Host: "127.0.0.1", Port: FreePort(t), socketDir: dir, adminUser: "cadang_admin", bin: bin}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", p.adminUser, "--auth-local=trust",
		"--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(p.Port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_wal_size=2GB", "-c", "shared_buffers=64MB")
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = srv.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = srv.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := p.psql("postgres", "SELECT 1", true); err == nil {
			return p
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("postgres exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the private PostgreSQL cluster did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// runAsPostgres returns the credential the server runs with: the postgres user when the
// test runs as root (initdb refuses root), which then owns dir.
func runAsPostgres(t testing.TB, dir string) *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		Skip(t, "no postgres user to run a private cluster as: run `make services` (it installs postgresql)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func (p *PG) psql(db, sql string, quiet bool) (string, error) {
	name := "psql"
	if p.bin != "" {
		name = filepath.Join(p.bin, "psql")
	}
	args := []string{"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", p.socketDir, "-p", strconv.Itoa(p.Port), "-d", db}
	if p.adminUser != "" {
		args = append(args, "-U", p.adminUser)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(sql)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return errb.String(), fmt.Errorf("%v: %s", err, firstLine(errb.String()))
	}
	return out.String(), nil
}

// Exec runs SQL as the administrator in database db.
func (p *PG) Exec(t testing.TB, db, sql string) {
	t.Helper()
	if _, err := p.psql(db, sql, false); err != nil {
		t.Fatalf("psql %s: %v\n%s", db, err, sql)
	}
}

// Query runs SQL as the administrator and returns its output (unaligned, tuples only),
// trimmed.
func (p *PG) Query(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := p.psql(db, sql, false)
	if err != nil {
		t.Fatalf("psql %s: %v\n%s", db, err, sql)
	}
	return strings.TrimSpace(out)
}

// BenchDatabase creates the database "bench" of the PostgreSQL benchmarks, owned by the
// login role bench (password bench-secret): about 500 MB of mixed data, half
// incompressible bytea (64,000 rows of 8 KiB), half rows of text, jsonb and numbers
// (1.4 million), a 740 MiB pg_dump. It returns a line with its size and how long it
// took to make.
func (p *PG) BenchDatabase(t testing.TB) string {
	t.Helper()
	p.Exec(t, "postgres", "CREATE ROLE bench LOGIN SUPERUSER PASSWORD 'bench-secret'; CREATE DATABASE bench OWNER bench;")
	start := time.Now()
	p.Exec(t, "bench", `SET ROLE bench;
CREATE TABLE dokumen (id int PRIMARY KEY, isi bytea NOT NULL);
ALTER TABLE dokumen ALTER COLUMN isi SET STORAGE EXTERNAL;
INSERT INTO dokumen SELECT g, (SELECT string_agg(sha256(int8send(g::bigint * 1000 + i)), '') FROM generate_series(1, 128) i)
FROM generate_series(1, 64000) g;
CREATE TABLE kunjungan (id bigserial PRIMARY KEY, pasien int, waktu timestamptz, keluhan text, data jsonb, biaya numeric(12,2));
INSERT INTO kunjungan (pasien, waktu, keluhan, data, biaya)
SELECT g % 50000, timestamptz '2020-01-01' + g * interval '1 minute', 'keluhan pasien nomor ' || g || ': demam, batuk, pusing',
  jsonb_build_object('dokter', 'dr. ' || (g % 97), 'ruang', g % 13, 'catatan', md5(g::text)), (g % 100000) / 7.0
FROM generate_series(1, 1400000) g;
VACUUM ANALYZE;`)
	return fmt.Sprintf("database bench: %s (pg_database_size), made in %s",
		p.Query(t, "bench", "SELECT pg_size_pretty(pg_database_size('bench'))"), time.Since(start).Round(time.Second))
}

// TryExec runs SQL as the administrator and returns its error.
func (p *PG) TryExec(db, sql string) error {
	_, err := p.psql(db, sql, false)
	return err
}

// Name returns a new name for a database or role of the test: prefix and random hex.
func Name(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// CreateDB creates a database (dropped when the test ends) and returns its name.
func (p *PG) CreateDB(t testing.TB, prefix string) string {
	t.Helper()
	name := Name(prefix)
	p.Exec(t, "postgres", "CREATE DATABASE "+name)
	p.DropDBAtCleanup(t, name)
	return name
}

// DropDBAtCleanup drops a database when the test ends.
func (p *PG) DropDBAtCleanup(t testing.TB, name string) {
	t.Cleanup(func() {
		if err := p.TryExec("postgres", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping database %s: %v", name, err)
		}
	})
}

// CreateRole creates a login role with a password (and extra attributes, e.g.
// SUPERUSER), dropped when the test ends, and returns its name.
func (p *PG) CreateRole(t testing.TB, prefix, password, attrs string) string {
	t.Helper()
	name := Name(prefix)
	p.Exec(t, "postgres", fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s' %s", name, password, attrs))
	t.Cleanup(func() {
		dbs, err := p.psql("postgres", "SELECT datname FROM pg_database WHERE datallowconn", false)
		if err == nil {
			for _, db := range strings.Fields(dbs) {
				_ = p.TryExec(db, "DROP OWNED BY "+name)
			}
		}
		if err := p.TryExec("postgres", "DROP ROLE IF EXISTS "+name); err != nil {
			t.Logf("dropping role %s: %v", name, err)
		}
	})
	return name
}

// SecretFile writes a password to a 0600 file and returns its path.
func SecretFile(t testing.TB, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// My is the machine's MariaDB server (installed and started by
// e2e/setup/services.d/20-mariadb.sh). Tests reach it over TCP on Host:Port with
// password users; set-up and checks go through root on the local socket.
type My struct {
	Host   string // 127.0.0.1
	Port   int
	Socket string
}

// MariaDB returns the machine's MariaDB server, or skips.
func MariaDB(t testing.TB) *My {
	t.Helper()
	m := &My{Host: "127.0.0.1", Port: 3306, Socket: "/run/mysqld/mysqld.sock"}
	if _, err := exec.LookPath("mariadb"); err != nil {
		Skip(t, "the MariaDB client is not installed: run `make services` (e2e/setup/services.d/20-mariadb.sh)")
	}
	if out, err := m.run("", "SELECT 1"); err != nil {
		Skip(t, "MariaDB is not running or does not let root in over %s (%s): run `make services`", m.Socket, firstLine(out))
	}
	return m
}

func (m *My) run(db, sql string) (string, error) {
	args := []string{"--protocol=socket", "-S", m.Socket, "--batch", "--skip-column-names", "--raw", "--default-character-set=utf8mb4"}
	if db != "" {
		args = append(args, "--database="+db)
	}
	cmd := exec.Command("mariadb", args...)
	cmd.Stdin = strings.NewReader(sql)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return errb.String(), fmt.Errorf("%v: %s", err, firstLine(errb.String()))
	}
	return out.String(), nil
}

// Exec runs SQL as root (in database db, if not "").
func (m *My) Exec(t testing.TB, db, sql string) {
	t.Helper()
	if _, err := m.run(db, sql); err != nil {
		t.Fatalf("mariadb %s: %v\n%s", db, err, sql)
	}
}

// TryExec runs SQL as root and returns its error.
func (m *My) TryExec(db, sql string) error {
	_, err := m.run(db, sql)
	return err
}

// Query runs SQL as root and returns its output (tab-separated, raw), trimmed.
func (m *My) Query(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := m.run(db, sql)
	if err != nil {
		t.Fatalf("mariadb %s: %v\n%s", db, err, sql)
	}
	return strings.TrimSpace(out)
}

// PurgeBinlogs purges every closed binlog file. MariaDB keeps, without an error, a file
// whose transactions are not yet checkpointed in the engine: purge until it is gone.
func (m *My) PurgeBinlogs(t testing.TB) {
	t.Helper()
	current := strings.Fields(m.Query(t, "", "SHOW MASTER STATUS"))[0]
	deadline := time.Now().Add(30 * time.Second)
	for {
		m.Exec(t, "", "PURGE BINARY LOGS TO '"+current+"'")
		if first := strings.Fields(m.Query(t, "", "SHOW BINARY LOGS"))[0]; first == current {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("binlog file %s not purged", first)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// CreateDB creates a database (dropped when the test ends) and returns its name.
func (m *My) CreateDB(t testing.TB, prefix string) string {
	t.Helper()
	name := Name(prefix)
	m.Exec(t, "", "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	m.DropDBAtCleanup(t, name)
	return name
}

// DropDBAtCleanup drops a database when the test ends.
func (m *My) DropDBAtCleanup(t testing.TB, name string) {
	t.Cleanup(func() {
		if err := m.TryExec("", "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Logf("dropping database %s: %v", name, err)
		}
	})
}

// CreateUser creates a user '<name>'@'%' with a password, dropped when the test ends,
// and returns its name.
func (m *My) CreateUser(t testing.TB, prefix, password string) string {
	t.Helper()
	name := Name(prefix)
	m.Exec(t, "", fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", name, strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(password)))
	t.Cleanup(func() {
		if err := m.TryExec("", fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", name)); err != nil {
			t.Logf("dropping user %s: %v", name, err)
		}
	})
	return name
}

// NewMariaDBServer starts a private MariaDB server (mariadb-install-db) on a free
// loopback port and its own socket, stopped and removed when the test ends: for tests
// that need a whole server of their own (`all: true` dumps every database, accounts are
// per server) or a second, empty one. root connects over the socket.
func NewMariaDBServer(t testing.TB) *My {
	t.Helper()
	return newMariaDBServer(t)
}

// NewBinlogMariaDBServer is NewMariaDBServer with its binary log on (log_bin, ROW
// format), as continuous protection needs.
func NewBinlogMariaDBServer(t testing.TB) *My {
	t.Helper()
	return newMariaDBServer(t, "--log-bin=mysql-bin", "--binlog-format=ROW", "--server-id=1")
}

func newMariaDBServer(t testing.TB, options ...string) *My {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "a private MariaDB server needs root (its root account is unix_socket-authenticated)")
	}
	for _, b := range []string{"mariadb-install-db", "mariadbd"} {
		if _, err := exec.LookPath(b); err != nil {
			if _, err := os.Stat("/usr/sbin/" + b); err != nil {
				Skip(t, "%s is not installed: run `make services` (it installs mariadb-server)", b)
			}
		}
	}
	dir := MySQLDir(t, "cadang-mariadb-")
	data := filepath.Join(dir, "data")
	// Every server gets a tmpdir of its own: a starting mariadbd removes the #sql* files
	// it finds in its tmpdir, which in a shared /tmp are the temporary tables of the
	// servers already running (a bootstrap beside it failed on one of its own).
	install := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+data, "--user=mysql",
		"--auth-root-authentication-method=socket", "--skip-test-db", "--tmpdir="+dir)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	return startMariaDB(t, dir, data, options...)
}

// StartMariaDBOn starts a private mariadbd on an existing data directory (a restored
// copy: owned by the mysql user), stopped at the end of the test.
func StartMariaDBOn(t testing.TB, data string, options ...string) *My {
	t.Helper()
	return startMariaDB(t, MySQLDir(t, "cadang-mariadb-on-"), data, options...)
}

// MySQLDir is a new folder the mysql user owns, removed at the end of the test.
func MySQLDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	u, err := user.Lookup("mysql")
	if err != nil {
		Skip(t, "no mysql user to run a private MariaDB server as: run `make services`")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startMariaDB starts mariadbd on data, its socket, pid and log in dir.
func startMariaDB(t testing.TB, dir, data string, options ...string) *My {
	t.Helper()
	m := &My{Host: "127.0.0.1", Port: FreePort(t), Socket: filepath.Join(dir, "mysqld.sock")}
	mariadbd := "/usr/sbin/mariadbd"
	if p, err := exec.LookPath("mariadbd"); err == nil {
		mariadbd = p
	}
	srv := exec.Command(mariadbd, "--no-defaults", "--datadir="+data, "--socket="+m.Socket, "--port="+strconv.Itoa(m.Port),
		"--bind-address=127.0.0.1", "--user=mysql", "--pid-file="+filepath.Join(dir, "mysqld.pid"),
		"--log-error="+filepath.Join(dir, "error.log"), "--tmpdir="+dir, "--innodb-buffer-pool-size=128M",
		"--innodb-flush-log-at-trx-commit=0", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci")
	srv.Args = append(srv.Args, options...)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = srv.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = srv.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := m.run("", "SELECT 1"); err == nil {
			return m
		}
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("mariadbd exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the private MariaDB server did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// AdminURL is a mysql:// URL (as cadang's restores take) for root over the server's
// socket.
func (m *My) AdminURL(db string) string {
	return fmt.Sprintf("mysql://localhost/%s?socket=%s&user=root", db, m.Socket)
}

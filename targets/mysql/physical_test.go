package mysql_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
	"github.com/cadang/cadang/targets/mysql"
)

// A physical backup (method: physical) of a whole server while a client keeps
// committing: mariadb-backup's stream goes into one snapshot (tagged method=physical,
// the binary log position noted); a restore gives a prepared data directory, owned by
// the mysql user, that a new mariadbd starts on, with the InnoDB and the Aria/MyISAM
// tables, the accounts, and a number of the concurrent rows between those committed
// before the backup began and after it ended; a server URL, or a folder that holds
// data, is refused.
func TestPhysicalBackup(t *testing.T) {
	for _, tool := range []string{"mariadb-backup", "mbstream"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "%s is not installed: run `make services` (it installs mariadb-backup)", tool)
		}
	}
	a := testenv.NewBinlogMariaDBServer(t)
	ctx := context.Background()
	a.Exec(t, "", `CREATE USER cadang_backup@'%' IDENTIFIED BY 'backup-secret';
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SHOW DATABASES ON *.* TO cadang_backup@'%';
CREATE USER app_owner@'%' IDENTIFIED BY 'owner-secret';
CREATE DATABASE simpus;
GRANT ALL PRIVILEGES ON simpus.* TO app_owner@'%';`)
	a.Exec(t, "simpus", `CREATE TABLE pasien (id INT PRIMARY KEY, nama VARCHAR(100)) ENGINE=InnoDB;
INSERT INTO pasien SELECT seq, CONCAT('Pasien ', seq) FROM seq_1_to_5000;
CREATE TABLE wilayah (id INT PRIMARY KEY, nama VARCHAR(100)) ENGINE=MyISAM;
INSERT INTO wilayah SELECT seq, CONCAT('Kecamatan ', seq) FROM seq_1_to_100;
CREATE TABLE kunjungan (id INT AUTO_INCREMENT PRIMARY KEY, waktu DATETIME(6)) ENGINE=InnoDB;`)

	// A client commits one row after another while the backup runs.
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			if err := a.TryExec("simpus", "INSERT INTO kunjungan (waktu) VALUES (NOW(6))"); err != nil {
				t.Errorf("concurrent insert: %v", err)
				return
			}
		}
	}()
	for atoi(t, a.Query(t, "simpus", "SELECT COUNT(*) FROM kunjungan")) < 20 {
	}
	before := atoi(t, a.Query(t, "simpus", "SELECT COUNT(*) FROM kunjungan"))
	cfg := &mysql.Config{Host: a.Host, Port: a.Port, All: true, Method: mysql.MethodPhysical, User: "cadang_backup", PasswordFile: testenv.SecretFile(t, "backup-secret")}
	tg := build(t, cfg)
	repo := targettest.NewRepo(t)
	res, snap := backup(t, repo, tg)
	after := atoi(t, a.Query(t, "simpus", "SELECT COUNT(*) FROM kunjungan"))
	stop.Store(true)
	<-done

	var m dbdump.Manifest
	if err := json.Unmarshal(res.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Databases) != 1 || m.Databases[0].Name != "simpus" || m.Databases[0].Exact || m.DumpBytes < 1<<20 {
		t.Errorf("manifest: %+v, %d bytes", m.Databases, m.DumpBytes)
	}
	if notes := strings.Join(res.Notes, "\n"); !strings.Contains(notes, "binary log position of the copy: mysql-bin.") {
		t.Errorf("notes: %v", res.Notes)
	}
	reader := repo.Reader(t, snap)
	if tags := reader.Snapshot().Tags; !contains(tags, "method=physical") {
		t.Errorf("snapshot tags %v", tags)
	}

	if err := tg.Restore(ctx, reader, targets.RestoreRequest{To: a.AdminURL("")}); err == nil || !strings.Contains(err.Error(), "restored to a folder") {
		t.Errorf("restore of a physical backup into a server: %v", err)
	}
	// The versions are compared before anything is downloaded: a backup of another
	// release series is refused, naming both versions, for a restore and for a drill.
	version := strings.Split(a.Query(t, "", "SELECT VERSION()"), "-")[0]
	parts := strings.Split(version, ".")
	other := &taggedAs{Reader: reader, version: otherSeries(version)}
	elsewhere := filepath.Join(t.TempDir(), "data")
	err := tg.Restore(ctx, other, targets.RestoreRequest{To: elsewhere})
	if err == nil || !strings.Contains(err.Error(), "taken from MariaDB "+other.version) || !strings.Contains(err.Error(), "is "+version) || other.opened.Load() != 0 {
		t.Errorf("restore of a backup of MariaDB %s with MariaDB %s here: %v (snapshot read %d times)", other.version, version, err, other.opened.Load())
	}
	if left, _ := os.ReadDir(elsewhere); len(left) > 0 {
		t.Errorf("the refused restore left %d files", len(left))
	}
	drillEnv := &targets.DrillEnv{Scratch: t.TempDir(), Name: testenv.Name("cadang_drill"), Log: slog.New(slog.DiscardHandler),
		Restored: func(int64) {}, Check: func(targets.DrillCheck) {}}
	if err := targettest.RunDrill(ctx, tg.DrillSteps(other, drillEnv)); err == nil || !strings.Contains(err.Error(), "MariaDB "+other.version) || other.opened.Load() != 0 {
		t.Errorf("drill of a backup of MariaDB %s: %v (snapshot read %d times)", other.version, err, other.opened.Load())
	}
	t.Logf("other series: %v", err)
	// A host without mariadb-backup (bin_dir pointing elsewhere) is told so first too.
	noTools := *cfg
	noTools.BinDir = t.TempDir()
	same := &taggedAs{Reader: reader, version: version}
	err = build(t, &noTools).Restore(ctx, same, targets.RestoreRequest{To: elsewhere})
	if err == nil || !strings.Contains(err.Error(), "mariadb-backup is not installed") || same.opened.Load() != 0 {
		t.Errorf("restore on a host without mariadb-backup: %v (snapshot read %d times)", err, same.opened.Load())
	}
	// A newer patch release of the same series restores, with a warning.
	patch, _ := strconv.Atoi(parts[2])
	newer := &taggedAs{Reader: reader, version: fmt.Sprintf("%s.%s.%d", parts[0], parts[1], patch+1)}
	data := filepath.Join(testenv.MySQLDir(t, "cadang-physical-"), "data")
	if err := tg.Restore(ctx, newer, targets.RestoreRequest{To: data}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if logged := newer.log.String(); !strings.Contains(logged, "older than the backup's") || !strings.Contains(logged, "backup="+newer.version) {
		t.Errorf("no warning for a backup of MariaDB %s restored with %s:\n%s", newer.version, version, logged)
	}
	if st, err := os.Stat(filepath.Join(data, "ibdata1")); err != nil || st.Sys().(*syscall.Stat_t).Uid != uint32(uid(t, "mysql")) {
		t.Fatalf("the restored data directory: %v", err)
	}
	if err := tg.Restore(ctx, reader, targets.RestoreRequest{To: data}); err == nil {
		t.Error("a restore into the folder that holds the first one was not refused")
	}
	b := testenv.StartMariaDBOn(t, data)
	for q, want := range map[string]string{
		"SELECT COUNT(*) FROM simpus.pasien":                                            "5000",
		"SELECT COUNT(*) FROM simpus.wilayah":                                           "100",
		"SELECT COUNT(*) FROM mysql.user WHERE User = 'app_owner'":                      "1",
		"CHECK TABLE simpus.pasien, simpus.wilayah, simpus.kunjungan":                   "",
		"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'simpus'": "1",
	} {
		got := b.Query(t, "", q)
		if strings.HasPrefix(q, "CHECK") {
			for _, line := range strings.Split(got, "\n") {
				if !strings.HasSuffix(line, "\tOK") && !strings.Contains(line, "\tstatus\tOK") {
					t.Errorf("%s: %q", q, line)
				}
			}
			continue
		}
		if got != want {
			t.Errorf("%s on the restored server: %q, want %q", q, got, want)
		}
	}
	n := atoi(t, b.Query(t, "", "SELECT COUNT(*) FROM simpus.kunjungan"))
	maxID := atoi(t, b.Query(t, "", "SELECT COALESCE(MAX(id), 0) FROM simpus.kunjungan"))
	if n < before || n > after || n != maxID {
		t.Errorf("concurrent rows restored: %d (max id %d), committed before the backup %d, after it %d", n, maxID, before, after)
	}
	t.Logf("concurrent rows: %d before the backup, %d restored, %d after", before, n, after)

	// A drill starts a scratch server of its own on the prepared copy: every table
	// sound, the target's checks true on it; nothing left after it.
	scratch := t.TempDir()
	var checks []string
	env := &targets.DrillEnv{Scratch: scratch, Name: testenv.Name("cadang_drill"), Manifest: res.Manifest,
		Checks: []string{"SELECT COUNT(*) = 5000 FROM simpus.pasien"}, Log: slog.New(slog.DiscardHandler), Restored: func(int64) {}}
	env.Check = func(c targets.DrillCheck) {
		checks = append(checks, fmt.Sprintf("%v %s: %s", c.Passed, c.Checked(), c.Result()))
	}
	if err := targettest.RunDrill(ctx, tg.DrillSteps(repo.Reader(t, snap), env)); err != nil {
		t.Fatalf("drill: %v\n%s", err, strings.Join(checks, "\n"))
	}
	if len(checks) != 2 || !strings.Contains(checks[0], "true every database of the backup present") || !strings.Contains(checks[0], "1 database, 3 tables sound") || !strings.HasPrefix(checks[1], "true") {
		t.Errorf("drill checks:\n%s", strings.Join(checks, "\n"))
	}
	if left, _ := os.ReadDir(scratch); len(left) > 0 {
		for _, e := range left {
			if e.Name() == "data" {
				t.Errorf("the drill left its data directory")
			}
		}
	}
	if out, _ := exec.Command("pgrep", "-f", "--datadir="+filepath.Join(scratch, "data")).Output(); len(out) > 0 {
		t.Errorf("the drill's server still runs: %s", out)
	}
	t.Logf("drill: %s", strings.Join(checks, "; "))

	// A table damaged in the copy fails the drill, naming it.
	env.Scratch, checks = t.TempDir(), nil
	steps := tg.DrillSteps(repo.Reader(t, snap), env)
	damaged := false
	for i, st := range steps {
		if st.Key == "start" {
			start := steps[i].Do
			steps[i].Do = func(ctx context.Context) (msg.Message, error) {
				ibd := filepath.Join(env.Scratch, "data", "simpus", "pasien.ibd")
				f, err := os.OpenFile(ibd, os.O_WRONLY, 0)
				if err == nil {
					_, err = f.WriteAt(make([]byte, 16<<10), 3*16<<10) // a page of the table zeroed
					f.Close()
				}
				damaged = err == nil
				return start(ctx)
			}
		}
	}
	err = targettest.RunDrill(ctx, steps)
	if !damaged || err == nil || !strings.Contains(err.Error(), "pasien") {
		t.Errorf("a drill of a copy with a damaged table: damaged %v, %v\n%s", damaged, err, strings.Join(checks, "\n"))
	}
	t.Logf("damaged copy: %v", err)
}

// otherSeries is a MariaDB version of another release series than version's.
func otherSeries(version string) string {
	if strings.HasPrefix(version, "10.6.") {
		return "10.11.2"
	}
	return "10.6.12"
}

// taggedAs is a snapshot reader whose server_version tag names another MariaDB
// version (the fault injected: one MariaDB is installed here), and that counts the
// reads of the snapshot's content and keeps what is logged.
type taggedAs struct {
	targets.Reader
	version string
	opened  atomic.Int32
	log     testenv.Buffer
}

func (r *taggedAs) Snapshot() targets.Snapshot {
	s := r.Reader.Snapshot()
	var tags []string
	for _, tag := range s.Tags {
		if !strings.HasPrefix(tag, "server_version=") {
			tags = append(tags, tag)
		}
	}
	s.Tags = append(tags, "server_version=mariadb-"+r.version)
	return s
}

func (r *taggedAs) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	r.opened.Add(1)
	return r.Reader.Open(ctx, path)
}

func (r *taggedAs) RestoreTo(ctx context.Context, dir string, include []string) error {
	r.opened.Add(1)
	return r.Reader.RestoreTo(ctx, dir, include)
}

func (r *taggedAs) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(&r.log, nil)) }

func uid(t *testing.T, name string) int {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(u.Uid)
	return n
}

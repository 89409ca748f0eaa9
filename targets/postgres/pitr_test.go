package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/postgres"
)

// archCluster is a private PostgreSQL cluster with WAL archiving on (archive_mode
// needs a restart, so the shared server of the other tests is never used).
type archCluster struct {
	bin, dir, data string
	port           int
	cred           *syscall.Credential
}

const pitrAdmin = "cadang_admin"

// newArchCluster starts a cluster as the postgres user (when root) in a folder that
// user owns, with archive_mode=on and no archive_command yet (pg setup sets it).
func newArchCluster(t *testing.T, extra ...string) *archCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/15/bin/initdb")
	if len(bins) == 0 {
		testenv.Skip(t, "PostgreSQL 15 server binaries are not installed: run `make services` (it installs postgresql)")
	}
	c := &archCluster{bin: filepath.Dir(bins[0]), dir: pitrDir(t, "cluster"), port: testenv.FreePort(t)}
	c.cred = postgresCred(t)
	c.data = filepath.Join(c.dir, "data")
	initdb := exec.Command(filepath.Join(c.bin, "initdb"), "-D", c.data, "-U", pitrAdmin, "--auth-local=trust",
		"--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	args := append([]string{"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "archive_mode=on",
		"-c", "wal_level=replica", "-c", "shared_buffers=32MB"}, extra...)
	c.start(t, c.data, c.port, args...)
	return c
}

// start runs postgres on data until the test ends and waits until it answers.
func (c *archCluster) start(t *testing.T, data string, port int, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(filepath.Dir(data), filepath.Base(data)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(filepath.Join(c.bin, "postgres"), append([]string{"-D", data, "-p", strconv.Itoa(port), "-k", c.dir}, args...)...)
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = srv.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGQUIT) // immediate shutdown: nothing to keep
		<-done
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := c.try(port, "postgres", "SELECT 1"); err == nil {
			return
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("postgres exited at start:\n%s", b)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the cluster did not start")
		}
	}
}

func (c *archCluster) try(port int, db, sql string) (string, error) {
	cmd := exec.Command(filepath.Join(c.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", c.dir,
		"-p", strconv.Itoa(port), "-U", pitrAdmin, "-d", db)
	cmd.Stdin = strings.NewReader(sql)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, errb.String())
	}
	return strings.TrimSpace(out.String()), nil
}

func (c *archCluster) query(t *testing.T, port int, db, sql string) string {
	t.Helper()
	out, err := c.try(port, db, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// pitrDir is a folder the postgres user may use, removed at the end.
func pitrDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cadang-pitr-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred := postgresCred(t); cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func postgresCred(t *testing.T) *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		testenv.Skip(t, "no postgres user to run a private cluster as: run `make services`")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// walPushStandIn is an executable that takes `wal-push --target=NAME PATH` as cadang
// does and copies the segment into spool: what the daemon's spool receives, without a
// daemon (e2e/pitr_test.go runs the real path).
func walPushStandIn(t *testing.T, spool string) string {
	dir := pitrDir(t, "bin")
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
	c := newArchCluster(t)
	ctx := context.Background()
	password := "pitr-" + testenv.Name("pw")
	c.query(t, c.port, "postgres", fmt.Sprintf("CREATE ROLE pitr LOGIN SUPERUSER REPLICATION PASSWORD '%s'; CREATE DATABASE app OWNER pitr;", password))
	c.query(t, c.port, "app", "CREATE TABLE rows (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
	cfg := &postgres.Config{Host: "127.0.0.1", Port: c.port, Database: "app", User: "pitr", BinDir: c.bin,
		PasswordFile: testenv.SecretFile(t, password), Mode: postgres.ModeContinuous, ArchiveInterval: 10 * time.Second}
	tg := newTarget(t, "pitr", cfg)
	repo := targettest.NewRepo(t)

	// Not set up: the run fails naming the setting.
	if _, err := tg.Backup(ctx, repo.Writer(t)); err == nil || !strings.Contains(err.Error(), "archive_command") {
		t.Fatalf("backup of a server without archive_command: %v", err)
	}
	spool := pitrDir(t, "spool")
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
			c.query(t, c.port, "app", fmt.Sprintf("INSERT INTO rows (id) VALUES (%d)", i))
		}
	}
	insert(1, 30)
	at := c.query(t, c.port, "app", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
	time.Sleep(20 * time.Millisecond)
	insert(31, 60)
	last := c.query(t, c.port, "app", "SELECT pg_walfile_name(pg_switch_wal())")
	waitArchived(t, c, last)

	// The archiver's part: the spool as one snapshot, restored where the restore reads it.
	names, _ := filepath.Glob(filepath.Join(spool, "0*"))
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	sum, _, err := repo.Backup(ctx, drc.BackupOptions{Dir: spool, Paths: names, Tags: []string{postgres.TagWAL + "=" + names[0] + "-" + names[len(names)-1]}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	walDir := pitrDir(t, "wal")
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
		data := filepath.Join(pitrDir(t, "restore"), "data")
		start := time.Now()
		if err := tg.Restore(ctx, repo.Reader(t, base), targets.RestoreRequest{To: data, Options: tc.opts}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Logf("%s: restored and recovered in %s", tc.name, time.Since(start).Round(time.Millisecond))
		port := testenv.FreePort(t)
		c.start(t, data, port, "-c", "listen_addresses=")
		if got := c.query(t, port, "app", "SELECT count(*) || ' ' || coalesce(max(id), 0) FROM rows"); got != tc.want {
			t.Errorf("%s: restored rows (count, max id) %s, want %s", tc.name, got, tc.want)
		}
	}
}

// waitArchived waits until the server has archived segment.
func waitArchived(t *testing.T, c *archCluster, segment string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := c.query(t, c.port, "postgres", "SELECT coalesce(last_archived_wal, '') || ' ' || coalesce(last_failed_wal, '') FROM pg_stat_archiver")
		if strings.Fields(got + " x")[0] >= segment {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived (archiver: %s)", segment, got)
		}
		time.Sleep(50 * time.Millisecond)
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

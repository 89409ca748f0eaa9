package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ArchivingPG is a private PostgreSQL 15 cluster with WAL archiving on (archive_mode
// needs a restart, so the shared server of the other tests is never used), run as the
// postgres user when the test runs as root. Its administrator (trust, over the socket
// in Dir) is PGAdmin; its archive_command is left for the test (cadang pg setup) to set.
// Its WAL segments are of 1 MiB (initdb --wal-segsize=1), not the default 16 MiB.
type ArchivingPG struct {
	Bin, Dir, Data string
	Port           int
	Cred           *syscall.Credential
}

// PGAdmin is the administrator role of an ArchivingPG.
const PGAdmin = "cadang_admin"

// NewArchivingPG initialises and starts the cluster; extra are more -c settings.
func NewArchivingPG(t testing.TB, extra ...string) *ArchivingPG {
	t.Helper()
	return NewArchivingPGSegments(t, 1, extra...)
}

// NewArchivingPGSegments is NewArchivingPG with WAL segments of segMiB MiB (16 is
// PostgreSQL's default).
func NewArchivingPGSegments(t testing.TB, segMiB int, extra ...string) *ArchivingPG {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/15/bin/initdb")
	if len(bins) == 0 {
		Skip(t, "PostgreSQL 15 server binaries are not installed: run `make services` (it installs postgresql)")
	}
	c := &ArchivingPG{Bin: filepath.Dir(bins[0]), Dir: PostgresDir(t, "cluster"), Port: FreePort(t), Cred: PostgresCred(t)}
	c.Data = filepath.Join(c.Dir, "data")
	initdb := exec.Command(filepath.Join(c.Bin, "initdb"), "-D", c.Data, "-U", PGAdmin, "--auth-local=trust",
		"--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
		"--wal-segsize="+strconv.Itoa(segMiB)) // 1 MiB segments in the tests: they stay small, and not only the default size is tried
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: c.Cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	args := append([]string{"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "archive_mode=on",
		"-c", "wal_level=replica", "-c", "shared_buffers=32MB"}, extra...)
	c.Start(t, c.Data, c.Port, args...)
	return c
}

// Start runs postgres on data (this cluster's, or a restored one) until the test ends
// and waits until it answers on port.
func (c *ArchivingPG) Start(t testing.TB, data string, port int, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(filepath.Dir(data), filepath.Base(data)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(filepath.Join(c.Bin, "postgres"), append([]string{"-D", data, "-p", strconv.Itoa(port), "-k", c.Dir}, args...)...)
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: c.Cred}
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
		if _, err := c.Try(port, "postgres", "SELECT 1"); err == nil {
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

// Try runs SQL as the administrator on the server at port (this cluster's or a
// restored one) and returns its output, trimmed.
func (c *ArchivingPG) Try(port int, db, sql string) (string, error) {
	cmd := exec.Command(filepath.Join(c.Bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", c.Dir,
		"-p", strconv.Itoa(port), "-U", PGAdmin, "-d", db)
	cmd.Stdin = strings.NewReader(sql)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, errb.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// Query is Try that fails the test on an error.
func (c *ArchivingPG) Query(t testing.TB, port int, db, sql string) string {
	t.Helper()
	out, err := c.Try(port, db, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// WaitArchived waits until the cluster has archived segment (or a later one).
func (c *ArchivingPG) WaitArchived(t testing.TB, segment string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := c.Query(t, c.Port, "postgres", "SELECT coalesce(last_archived_wal, '') || ' ' || coalesce(last_failed_wal, '') FROM pg_stat_archiver")
		if strings.Fields(got + " x")[0] >= segment {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived within %s (archiver: %s)", segment, timeout, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PostgresDir is a new folder the postgres user owns (when the test runs as root),
// removed at the end.
func PostgresDir(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cadang-pg-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred := PostgresCred(t); cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// PostgresCred is the credential PostgreSQL's processes run with: the postgres user
// when the test runs as root, nil otherwise.
func PostgresCred(t testing.TB) *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	dir, err := os.MkdirTemp("", "cadang-cred-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	return runAsPostgres(t, dir)
}

package engine

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/lease"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/internal/testenv"
)

// lockWorld is a daemon with a directory DRC whose repository of agency dinkes exists.
func lockWorld(t *testing.T) (*Daemon, *drc.Repo) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, `restic: {binary: "`+testenv.Restic(t)+`"}
drcs: [{name: local, role: primary, path: $DIR/drc}]
agencies: [{id: dinkes}]
targets: [{name: app, agency: dinkes, kind: stub, stub: {}}]
`)
	d := newTestDaemon(t, cfg, time.Now)
	if res := drc.Ensure(context.Background(), d.sites, "dinkes"); res[0].Error != "" {
		t.Fatal(res[0].Error)
	}
	return d, d.sites.primary().Repo("dinkes")
}

// holdLock starts a restic that holds a (shared) lock on repo until it is killed; with
// host set, it runs in a UTS namespace of its own under that host name, as restic on
// another DRC host would. It returns the restic's pid once its lock exists.
func holdLock(t *testing.T, d *Daemon, repo *drc.Repo, host string) int {
	t.Helper()
	before, _ := repo.Locks(context.Background())
	args := []string{testenv.Restic(t), "backup", "--host", "x", "--stdin-from-command", "--", "sleep", "600"}
	if host != "" {
		if err := exec.Command("unshare", "--uts", "true").Run(); err != nil {
			testenv.Skip(t, "a lock from another host needs `unshare --uts` (util-linux, run as root): %v", err)
		}
		args = append([]string{"unshare", "--uts", "sh", "-c", `hostname "$0" && exec "$@"`, host}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "RESTIC_REPOSITORY=" + repo.URL,
		"RESTIC_PASSWORD_FILE=" + filepath.Join(d.conf().cfg.StateDir, "keys", "local", "dinkes.key"), "RESTIC_CACHE_DIR=" + t.TempDir()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		locks, err := repo.Locks(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(locks) > len(before) {
			return cmd.Process.Pid
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("restic took no lock")
	return 0
}

func kill(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, alive := lease.ProcStat(pid); !alive {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pid %d did not die", pid)
}

// Of four locks, only the one provably left by a dead restic of a dead cadang daemon
// is removed: a live restic of this host that cadang did not start, a dead restic that
// cadang did not start, and another host's dead restic all keep theirs, and an
// exclusive run fails naming every holder.
func TestStaleLocks(t *testing.T) {
	d, repo := lockWorld(t)
	ctx := context.Background()

	ours := holdLock(t, d, repo, "")
	start, _ := lease.ProcStat(ours)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	// The lease a daemon (now dead) left when it was killed in the middle of a backup.
	left := &catalog.Lease{DRC: "local", Agency: "dinkes", Op: "backup", Run: 41, Target: "app", Host: d.leases.Host, Boot: d.leases.Boot,
		Daemon: catalog.Proc{PID: dead.Process.Pid, Start: 1}, Started: time.Now().Add(-time.Minute),
		Restic: []catalog.Proc{{PID: ours, Start: start}}}
	if err := d.cat.PutLease(left); err != nil {
		t.Fatal(err)
	}
	kill(t, ours)

	stranger := holdLock(t, d, repo, "")
	strangerDead := holdLock(t, d, repo, "")
	kill(t, strangerDead)
	foreign := holdLock(t, d, repo, "drc-b-backup")
	kill(t, foreign)

	removed, kept, err := d.leases.ClearStale(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].PID != ours {
		t.Fatalf("removed %+v; want only the lock of pid %d", removed, ours)
	}
	whys := map[int]string{}
	for _, v := range kept {
		whys[v.Lock.PID] = v.Lock.Hostname + ": " + v.Why
	}
	want := map[int]string{
		stranger:     d.leases.Host + ": held by a live process on this host that cadang did not start",
		strangerDead: d.leases.Host + ": not a restic process cadang started",
		foreign:      "drc-b-backup: another host's lock: cadang never removes it",
	}
	for pid, w := range want {
		if whys[pid] != w {
			t.Errorf("lock of pid %d kept because %q, want %q", pid, whys[pid], w)
		}
	}
	if ls, _ := d.cat.Leases("local", "dinkes"); len(ls) != 0 {
		t.Errorf("the dead daemon's lease is still there: %+v", ls)
	}
	if locks, _ := repo.Locks(ctx); len(locks) != 3 {
		t.Errorf("%d locks left, want 3", len(locks))
	}

	// An exclusive run cannot proceed: it fails with one line naming every holder.
	runs, err := d.Check(MaintenanceRequest{})
	if err != nil {
		t.Fatal(err)
	}
	runQueued(d)
	r, _ := d.cat.Run(runs[0].ID)
	if r.Status != catalog.Failed || strings.Contains(r.Error, "\n") {
		t.Fatalf("check on a locked repository: %+v", r)
	}
	t.Logf("the failed run says: %s", r.Error)
	for _, part := range []string{`the repository of agency "dinkes" at drc "local" is locked`,
		`on host "drc-b-backup"`, "another host's lock: cadang never removes it",
		"held by a live process on this host that cadang did not start"} {
		if !strings.Contains(r.Error, part) {
			t.Errorf("the run's error does not say %q:\n%s", part, r.Error)
		}
	}
	if locks, _ := repo.Locks(ctx); len(locks) != 3 {
		t.Errorf("the failed run changed the locks: %d left", len(locks))
	}
}

// A run that finds its repository locked by a dead restic of its own (a run of this
// daemon that was interrupted and whose restic had to be killed) clears the lock and
// goes on.
func TestRunClearsItsOwnStaleLock(t *testing.T) {
	d, repo := lockWorld(t)
	// A run whose restic holds a lock (a backup reading a dump that never ends) and is
	// killed: its lock stays behind.
	j := &queue.Job{Run: &catalog.Run{ID: 7, Op: "backup", Target: "app", Agency: "dinkes", DRC: "local"}}
	j.Uses = queue.UsesOf(j.Run)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	j.Ctx, j.Cancel = ctx, cancel
	lctx := d.leases.Acquire(j) // records each restic the run starts in its lease
	go func() {
		_, _, _ = repo.Backup(lctx, drc.BackupOptions{Host: "app", Stdin: &drc.StdinCommand{Filename: "x", Argv: []string{"sleep", "600"}}}, nil)
	}()
	var pid int
	testenv.Eventually(t, time.Minute, "the run's restic to be recorded in its lease", func() bool {
		if ls, _ := d.cat.Leases("local", "dinkes"); len(ls) == 1 && len(ls[0].Restic) == 1 {
			pid = ls[0].Restic[0].PID
		}
		return pid != 0
	})
	testenv.Eventually(t, time.Minute, "restic's lock", func() bool {
		locks, _ := repo.Locks(context.Background())
		return len(locks) == 1
	})
	kill(t, pid)
	j.Run.Status = catalog.Interrupted
	d.leases.Release(j) // kept, marked ended: its restic may have left a lock
	if ls, _ := d.cat.Leases("local", "dinkes"); len(ls) != 1 || ls[0].Ended.IsZero() || len(ls[0].Restic) == 0 {
		t.Fatalf("lease after an interrupted run: %+v", ls)
	}

	runs, err := d.Check(MaintenanceRequest{})
	if err != nil {
		t.Fatal(err)
	}
	runQueued(d)
	r, _ := d.cat.Run(runs[0].ID)
	if r.Status != catalog.Succeeded {
		t.Fatalf("check after a stale lock of its own: %+v", r)
	}
	if locks, _ := repo.Locks(context.Background()); len(locks) != 0 {
		t.Errorf("locks left: %+v", locks)
	}
}

package engine

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
)

// The streamcmd kind exists only in engine's tests: its backup stores the output of
// the command its config names, through restic's --stdin-from-command like the
// database kinds.
type streamCmdConfig struct {
	Argv []string `yaml:"argv"`
}

type streamCmdTarget struct{ argv []string }

func (t streamCmdTarget) Backup(ctx context.Context, w targets.Writer) (*targets.BackupResult, error) {
	return &targets.BackupResult{}, w.Stream(ctx, targets.StreamSpec{Filename: "out", Argv: t.argv})
}

// Restore fails, echoing its destination as a careless kind might.
func (streamCmdTarget) Restore(_ context.Context, _ targets.Reader, req targets.RestoreRequest) error {
	return fmt.Errorf("cannot restore to %s", req.To)
}

func init() {
	targets.Register(targets.Kind{
		Name:      "streamcmd",
		NewConfig: func() any { return &streamCmdConfig{} },
		New: func(s targets.Spec) (targets.Target, error) {
			return streamCmdTarget{argv: s.Config.(*streamCmdConfig).Argv}, nil
		},
	})
}

// A run that fails because its restic died by a signal (SIGKILL here; SIGPIPE when the
// consumer of a restore's `restic dump` fails) leaves its lock. Its lease outlives the
// run, so the next exclusive run proves the lock stale, removes it and goes on; a run
// whose restic ended cleanly leaves no lease behind.
func TestLeaseOutlivesAFailedRun(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, `restic: {binary: "`+testenv.Restic(t)+`"}
drcs: [{name: local, role: primary, path: $DIR/drc}]
agencies: [{id: dinkes}]
targets:
  - {name: dies, agency: dinkes, kind: streamcmd, streamcmd: {argv: [sh, -c, 'kill -KILL $PPID']}}
  - {name: fine, agency: dinkes, kind: streamcmd, streamcmd: {argv: [echo, hello]}}
`)
	d := newTestDaemon(t, cfg, time.Now)
	repo := d.sites.primary().Repo("dinkes")
	ctx := context.Background()

	run, err := d.Backup("fine", reasonOnDemand, queue.PriorityOnDemand)
	if err != nil {
		t.Fatal(err)
	}
	runQueued(d)
	if r, _ := d.cat.Run(run.ID); r.Status != catalog.Succeeded {
		t.Fatalf("backup of a command that works: %+v", r)
	}
	if ls, _ := d.cat.Leases("local", "dinkes"); len(ls) != 0 {
		t.Fatalf("a run whose restic ended cleanly left its lease: %+v", ls)
	}

	run, err = d.Backup("dies", reasonOnDemand, queue.PriorityOnDemand)
	if err != nil {
		t.Fatal(err)
	}
	runQueued(d)
	r, _ := d.cat.Run(run.ID)
	if r.Status != catalog.Failed {
		t.Fatalf("backup whose restic was killed: %+v", r)
	}
	if locks, _ := repo.Locks(ctx); len(locks) != 1 {
		t.Fatalf("the killed restic left %d locks, want 1 (the test's premise)", len(locks))
	}
	ls, _ := d.cat.Leases("local", "dinkes")
	if len(ls) != 1 || ls[0].Run != run.ID || ls[0].Ended.IsZero() || len(ls[0].Restic) != 1 {
		t.Fatalf("the failed run's lease: %+v; want it kept, ended, with its restic", ls)
	}

	runs, err := d.Check(MaintenanceRequest{})
	if err != nil {
		t.Fatal(err)
	}
	runQueued(d)
	c, _ := d.cat.Run(runs[0].ID)
	if c.Status != catalog.Succeeded {
		t.Fatalf("check after a failed run's stale lock: %s %s", c.Status, c.Error)
	}
	if locks, _ := repo.Locks(ctx); len(locks) != 0 {
		t.Errorf("locks left: %+v", locks)
	}
	if ls, _ := d.cat.Leases("local", "dinkes"); len(ls) != 0 {
		t.Errorf("leases left once the lock is gone: %+v", ls)
	}
}

// cadang unlock removes what is proven stale (cadang's lease, or restic's own rule:
// a lock of this host whose process is gone, a lock not refreshed for 30 minutes),
// keeps the rest and fails naming it; --all removes every lock and says so.
func TestUnlockOnDemand(t *testing.T) {
	var shift atomic.Int64
	dir := t.TempDir()
	cfg := testConfig(t, dir, `restic: {binary: "`+testenv.Restic(t)+`"}
drcs: [{name: local, role: primary, path: $DIR/drc}]
agencies: [{id: dinkes}]
targets: [{name: app, agency: dinkes, kind: stub, stub: {}}]
`)
	d := newTestDaemon(t, cfg, func() time.Time { return time.Now().Add(time.Duration(shift.Load())) })
	if res := drc.Ensure(context.Background(), d.sites, "dinkes"); res[0].Error != "" {
		t.Fatal(res[0].Error)
	}
	repo := d.sites.primary().Repo("dinkes")
	ctx := context.Background()

	live := holdLock(t, d, repo, "")
	dead := holdLock(t, d, repo, "")
	kill(t, dead)
	foreign := holdLock(t, d, repo, "drc-b-backup")
	kill(t, foreign)

	unlock := func(all bool) *catalog.Run {
		t.Helper()
		runs, err := d.Unlock(UnlockRequest{Agency: "dinkes", All: all}, "uid 0 (root), pid 1")
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].Op != "unlock" || runs[0].DRC != "local" {
			t.Fatalf("unlock runs: %+v", runs)
		}
		runQueued(d)
		r, _ := d.cat.Run(runs[0].ID)
		t.Logf("unlock (all=%v): %s %s; notes %q", all, r.Status, r.Error, r.Notes)
		return r
	}
	pids := func() map[int]bool {
		locks, err := repo.Locks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int]bool{}
		for _, l := range locks {
			out[l.PID] = true
		}
		return out
	}

	r := unlock(false)
	if r.Status != catalog.Failed || !strings.Contains(r.Error, "2 lock(s) not proven stale") ||
		!strings.Contains(r.Error, "cadang unlock --all") || strings.Contains(r.Error, "\n") {
		t.Errorf("unlock with live and foreign locks: %s %q", r.Status, r.Error)
	}
	if got := pids(); len(got) != 2 || !got[live] || !got[foreign] {
		t.Errorf("locks left %v; want those of the live restic %d and of the other host %d", got, live, foreign)
	}
	if !hasNote(r, "its process no longer exists on this host") || !hasNote(r, "requested by uid 0 (root)") {
		t.Errorf("the notes do not record the removal and who asked: %q", r.Notes)
	}

	// 31 minutes later, a lock nobody refreshed is stale by restic's rule (a live restic
	// refreshes its lock every 5 minutes; the one held here by a test process does not).
	shift.Store(int64(31 * time.Minute))
	r = unlock(false)
	if r.Status != catalog.Succeeded || len(pids()) != 0 || !hasNote(r, "not refreshed for 31m") {
		t.Errorf("unlock of locks not refreshed for 31 minutes: %s %q, locks %v", r.Status, r.Notes, pids())
	}

	shift.Store(0)
	live2 := holdLock(t, d, repo, "")
	r = unlock(true)
	if r.Status != catalog.Succeeded || len(pids()) != 0 || !hasNote(r, "--all: every lock is removed") || !hasNote(r, ": --all") {
		t.Errorf("unlock --all with a live lock of pid %d: %s %q, locks %v", live2, r.Status, r.Notes, pids())
	}

	r = unlock(false)
	if r.Status != catalog.Succeeded || !hasNote(r, "no lock") {
		t.Errorf("unlock of a repository with no lock: %s %q", r.Status, r.Notes)
	}
	if _, err := d.Unlock(UnlockRequest{Agency: "nobody"}, ""); err == nil || !strings.Contains(err.Error(), `unknown agency "nobody"`) {
		t.Errorf("unlock of an unknown agency: %v", err)
	}
}

func hasNote(r *catalog.Run, part string) bool {
	for _, n := range r.Notes {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// A cancelled run says so once: "cancelled by request: restic backup: interrupted:
// cancelled by request" said it twice.
func TestCancelledRunSaysItOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, `restic: {binary: "`+testenv.Restic(t)+`"}
drcs: [{name: local, role: primary, path: $DIR/drc}]
agencies: [{id: dinkes}]
targets: [{name: slow, agency: dinkes, kind: streamcmd, streamcmd: {argv: [sleep, "600"]}}]
`)
	d := newTestDaemon(t, cfg, time.Now)
	run, err := d.Backup("slow", reasonOnDemand, queue.PriorityOnDemand)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { runQueued(d); close(done) }()
	deadline := time.Now().Add(time.Minute)
	for {
		if ls, _ := d.cat.Leases("local", "dinkes"); len(ls) == 1 && len(ls[0].Restic) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("restic did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := d.cancel(run.ID); err != nil {
		t.Fatal(err)
	}
	<-done
	r, _ := d.cat.Run(run.ID)
	if r.Status != catalog.Cancelled || strings.Count(r.Error, "cancelled by request") != 1 {
		t.Errorf("cancelled run: %s %q; want it cancelled, saying so once", r.Status, r.Error)
	}
}

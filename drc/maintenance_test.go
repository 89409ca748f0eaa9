package drc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
)

func TestParseSubset(t *testing.T) {
	for in, want := range map[string]int{"": 0, "0%": 0, "5%": 20, "3%": 34, "100%": 1, "12.5%": 8, " 50 %": 2, "0.1%": 1000} {
		if got, err := drc.ParseSubset(in); err != nil || got != want {
			t.Errorf("ParseSubset(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"5", "x%", "-1%", "101%", "0.05%", "NaN%"} {
		if _, err := drc.ParseSubset(in); err == nil {
			t.Errorf("ParseSubset(%q) succeeded", in)
		}
	}
}

// newRepo creates agency "dinkes" at a directory DRC.
func newRepo(t *testing.T) *drc.Repo {
	t.Helper()
	site := openSite(t, newRestic(t), t.TempDir(), drc.Config{Name: "local", Role: drc.RolePrimary, Path: filepath.Join(t.TempDir(), "drc")})
	if res := drc.Ensure(context.Background(), []*drc.Site{site}, "dinkes"); res[0].Error != "" {
		t.Fatal(res[0].Error)
	}
	return site.Repo("dinkes")
}

func stdinBackup(t *testing.T, ctx context.Context, repo *drc.Repo, argv ...string) (*drc.BackupSummary, error) {
	t.Helper()
	sum, _, err := repo.Backup(ctx, drc.BackupOptions{Host: "t", Tags: []string{"target=t"},
		Stdin: &drc.StdinCommand{Filename: "out.txt", Argv: argv}}, nil)
	return sum, err
}

func TestForgetPruneCheck(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t)
	var ids []string
	for _, word := range []string{"one", "two", "three"} {
		sum, err := stdinBackup(t, ctx, repo, "echo", strings.Repeat(word, 1000))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sum.SnapshotID)
	}
	if err := repo.Forget(ctx, []string{"--keep-last=0"}); err == nil {
		t.Fatal("a flag was passed to forget as an id")
	}
	if err := repo.Forget(ctx, ids[:2]); err != nil {
		t.Fatal(err)
	}
	snaps, err := repo.Snapshots(ctx)
	if err != nil || len(snaps) != 1 || snaps[0].ID != ids[2] {
		t.Fatalf("after forget: %+v %v", snaps, err)
	}
	summary, err := repo.Prune(ctx)
	if err != nil || !strings.Contains(summary, "remaining:") {
		t.Fatalf("prune: %q %v", summary, err)
	}
	for part := 1; part <= 3; part++ {
		sum, err := repo.Check(ctx, part, 3)
		if err != nil || sum.NumErrors != 0 {
			t.Fatalf("check %d/3: %+v %v", part, sum, err)
		}
	}
	if _, err := repo.Check(ctx, 4, 3); err == nil {
		t.Error("part 4 of 3 was accepted")
	}

	// Damage every data pack: a check reading all data names the damage.
	var packs []string
	_ = repo.Store.List(ctx, "data/", func(o drc.ObjectInfo) error { packs = append(packs, o.Name); return nil })
	if len(packs) == 0 {
		t.Fatal("no data packs")
	}
	root := filepath.Join(repo.URL)
	for _, p := range packs {
		f, err := os.OpenFile(filepath.Join(root, p), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("cadang-damage"), 20); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	sum, err := repo.Check(ctx, 1, 1)
	if err == nil || sum == nil || sum.NumErrors == 0 || !strings.Contains(err.Error(), "errors in the repository of dinkes") {
		t.Fatalf("check of a damaged repository: %+v %v", sum, err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("check error is not one line: %q", err)
	}
}

// A restic that runs holds a lock that Locks reads (its host and pid are restic's,
// reported through the start hook); one killed with SIGKILL leaves its lock behind,
// which RemoveLock removes.
func TestLocks(t *testing.T) {
	repo := newRepo(t)
	host, _ := os.Hostname()

	var pid atomic.Int64
	ctx := drc.WithStartHook(context.Background(), func(p int) { pid.Store(int64(p)) })
	done := make(chan error, 1)
	go func() { _, err := stdinBackup(t, ctx, repo, "sleep", "60"); done <- err }()
	locks := waitLocks(t, repo, 1)
	l := locks[0]
	if l.PID != int(pid.Load()) || l.Hostname != host || l.Exclusive || time.Since(l.Time) > time.Minute {
		t.Fatalf("lock %+v; restic pid %d on %s", l, pid.Load(), host)
	}
	if s := l.String(); !strings.Contains(s, "held by restic pid") || !strings.Contains(s, `on host "`+host+`"`) {
		t.Errorf("lock description: %s", s)
	}

	if err := syscall.Kill(int(pid.Load()), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("a killed backup succeeded")
	}
	left := waitLocks(t, repo, 1)
	if left[0].ID != l.ID {
		t.Fatalf("the killed restic's lock: %+v", left)
	}
	if err := repo.RemoveLock(context.Background(), "../config"); err == nil {
		t.Error("RemoveLock took a path")
	}
	if err := repo.RemoveLock(context.Background(), l.ID); err != nil {
		t.Fatal(err)
	}
	waitLocks(t, repo, 0)
}

func waitLocks(t *testing.T, repo *drc.Repo, n int) []drc.Lock {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		locks, err := repo.Locks(context.Background())
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		if len(locks) == n {
			return locks
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d locks, have %+v", n, locks)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

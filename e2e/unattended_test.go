package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// waitRuns polls the runs of all targets until done says they are what the test waits
// for.
func waitRuns(t *testing.T, w *world, timeout time.Duration, done func([]api.RunInfo) bool) []api.RunInfo {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		runs := w.runs("")
		if done(runs) {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs did not get there in %s: %+v\n%s", timeout, runs, w.log())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// kill -9 of the daemon in the middle of a backup: restic's lock is left in the
// repository. The next daemon records the run as interrupted, clears that lock (it is
// provably its own and dead), makes the backup up once (reason catch-up), and the
// repository checks clean, all data read.
func TestCrashRecoveryAfterKill9(t *testing.T) {
	w, m := slowWorld(t, 1<<20, 16<<20, "60s")
	var queued api.RunInfo
	mustJSON(t, w.must("backup", "portal-files", "--json").stdout, &queued)
	waitUploading(t, w, queued.ID)
	if locks := lockObjects(t, m); len(locks) != 1 {
		t.Fatalf("a running backup holds one lock, found %v", locks)
	}
	w.stopDaemon(syscall.SIGKILL, 30*time.Second)
	time.Sleep(time.Second)
	if locks := lockObjects(t, m); len(locks) != 1 {
		t.Fatalf("after kill -9 restic's lock must still be there (it is what recovery clears), found %v", locks)
	}

	// Restart on the fast path, so that the catch-up does not crawl.
	cfg := regexp.MustCompile(`endpoint: "[^"]*"`).ReplaceAllString(readConfig(t, w), fmt.Sprintf("endpoint: %q", m.Endpoint))
	writeConfig(t, w, cfg)
	w.startDaemon()
	runs := waitRuns(t, w, 3*time.Minute, func(rs []api.RunInfo) bool {
		n := 0
		for _, r := range rs {
			if r.Status.Done() {
				n++
			}
		}
		return n == len(rs) && len(rs) >= 3
	})
	var interrupted, catchUps, unlocks []api.RunInfo
	for _, r := range runs {
		switch {
		case r.ID == queued.ID:
			interrupted = append(interrupted, r)
		case r.Op == "backup" && r.Reason == "catch-up":
			catchUps = append(catchUps, r)
		case r.Op == "unlock":
			unlocks = append(unlocks, r)
		default:
			t.Errorf("unexpected run: %+v", r.Run)
		}
	}
	if len(interrupted) != 1 || interrupted[0].Status != "interrupted" || !strings.Contains(interrupted[0].Error, "stopped while the run was running") {
		t.Errorf("the killed run: %+v", interrupted)
	}
	if len(catchUps) != 1 || catchUps[0].Status != "succeeded" || catchUps[0].SnapshotID == "" {
		t.Fatalf("want exactly one successful catch-up backup: %+v\n%s", catchUps, w.log())
	}
	if len(unlocks) != 1 || unlocks[0].Status != "succeeded" || unlocks[0].Reason != "recovery" ||
		!strings.Contains(strings.Join(unlocks[0].Notes, "\n"), "removed stale lock") {
		t.Errorf("the recovery run: %+v", unlocks)
	}
	if unlocks[0].ID > catchUps[0].ID || !catchUps[0].Started.After(unlocks[0].Ended.Add(-time.Second)) {
		t.Errorf("the catch-up must wait for the recovery run: unlock %+v, catch-up %+v", unlocks[0].Run, catchUps[0].Run)
	}
	if locks := lockObjects(t, m); len(locks) != 0 {
		t.Errorf("locks left: %v", locks)
	}
	if !strings.Contains(w.log(), "removed a stale restic lock") {
		t.Error("the daemon did not log the lock it removed")
	}

	// restic check reading every pack finds the repository clean.
	r := w.must("check", "--read-data-subset", "100%", "--wait")
	if !strings.Contains(r.stdout, "succeeded") || !strings.Contains(r.stdout, "read data part 1/1") {
		t.Errorf("check: %s", r)
	}
	var snaps []api.SnapshotInfo
	mustJSON(t, w.must("snapshots", "portal-files", "--json").stdout, &snaps)
	if len(snaps) != 1 || snaps[0].ID != catchUps[0].SnapshotID || snaps[0].Status != "good" {
		t.Errorf("snapshots after recovery: %+v", snaps)
	}
}

// resticAt runs restic on agency dinkes's repository at the MinIO DRC "local" of w,
// as another program (or another host) would.
func resticAt(t *testing.T, w *world, m *testenv.MinIO, wrap []string, args ...string) *exec.Cmd {
	argv := append(append(wrap, w.restic), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "RESTIC_CACHE_DIR=" + t.TempDir(),
		"RESTIC_REPOSITORY=s3:http://" + m.Endpoint + "/cadang/dinkes",
		"RESTIC_PASSWORD_FILE=" + filepath.Join(w.stateDir, "keys", "local", "dinkes.key"),
		"AWS_ACCESS_KEY_ID=" + m.AccessKey, "AWS_SECRET_ACCESS_KEY=" + m.SecretKey}
	return cmd
}

// A lock left by restic on another host (its process dead) is never removed: prune
// and check fail with one line naming the holder, the lock stays, and backups (which
// share the repository with it) go on.
func TestForeignLockIsNotRemoved(t *testing.T) {
	if err := exec.Command("unshare", "--uts", "true").Run(); err != nil {
		testenv.Skip(t, "a lock from another host needs `unshare --uts` (util-linux, run as root): %v", err)
	}
	w := newWorld(t)
	m := testenv.StartMinIO(t, "cadang")
	src := filepath.Join(w.dir, "src")
	makeTree(t, src, 1<<20)
	w.config("drcs:\n" + s3DRC("local", "primary", m, "", "cadang") + fmt.Sprintf(oneTarget, src))
	w.startDaemon()
	if _, r := w.backupJSON("portal-files"); r.code != 0 {
		t.Fatalf("first backup: %s", r)
	}

	// restic at "drc-b-backup" takes a lock, then dies there without removing it.
	other := resticAt(t, w, m, []string{"unshare", "--uts", "sh", "-c", `hostname drc-b-backup && exec "$@"`, "sh"},
		"backup", "--host", "drc-b", "--stdin-from-command", "--", "sleep", "600")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(lockObjects(t, m)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the other host's restic took no lock")
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = other.Process.Kill()
	_ = other.Wait()
	lock := lockObjects(t, m)

	for _, op := range []string{"prune", "check"} {
		r := w.cadang(op, "--wait")
		if r.code != 1 {
			t.Fatalf("%s on a repository another host locked: %s", op, r)
		}
		want := fmt.Sprintf(`held by restic pid %d on host "drc-b-backup" (user `, other.Process.Pid)
		if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "another host's lock: cadang never removes it") {
			t.Errorf("%s must name the holder (%s):\n%s", op, want, r)
		}
	}
	runs := w.runs("")
	if runs[0].Op != "check" || runs[0].Status != "failed" || !testenv.OneLine(runs[0].Error) || !strings.Contains(runs[0].Error, "drc-b-backup") {
		t.Errorf("the failed check run: %+v", runs[0].Run)
	}
	if now := lockObjects(t, m); len(now) != 1 || now[0] != lock[0] {
		t.Errorf("the other host's lock was touched: before %v, now %v", lock, now)
	}
	if _, r := w.backupJSON("portal-files"); r.code != 0 {
		t.Errorf("a backup beside another host's shared lock: %s", r)
	}
}

// cadang status and cadang schedule: the queue, the next runs, every target's last
// result and snapshot ages; the planned runs of the next hours with the maintenance
// windows and the runs they hold; retention, checks with a rotating data subset.
func TestStatusAndSchedule(t *testing.T) {
	w := newWorld(t)
	src := filepath.Join(w.dir, "src")
	makeTree(t, src, 1<<10)
	// The maintenance window holds retention and replication: the runs this test waits
	// for must not fall in it. It starts six hours after now (Jakarta time); a window
	// fixed at 01:00 failed the test whenever it ran between 18:00 and 21:00 UTC. The
	// other times keep their places relative to it (the daily backup an hour into it,
	// the checks and the prune after it).
	zone := jakartaZone(t)
	h := (time.Now().In(zone).Hour() + 6) % 24
	hour := func(after int) int { return (h + after) % 24 }
	hhmm := func(after int) string { return fmt.Sprintf("%02d:00", hour(after)) }
	// since is how many minutes t is past hour(after) o'clock, Jakarta time, modulo a day.
	since := func(t time.Time, after int) int {
		t = t.In(zone)
		return ((t.Hour()*60+t.Minute()-hour(after)*60)%1440 + 1440) % 1440
	}
	w.config(fmt.Sprintf(`scheduler:
  timezone: Asia/Jakarta
  blackout:
    - {name: network maintenance, start: "0 %d * * *", duration: 3h}
drcs:
  - {name: local, role: primary, path: %q, maintenance: {check: "30 %d * * *", prune: "0 %d * * 0", read_data_subset: 50%%}}
  - {name: offsite, role: secondary, path: %q, maintenance: {check: "0 %d * * *"}}
agencies: [{id: dinkes}]
targets:
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [%q]}, schedule: "0 %d * * *", jitter: 20m, retention: {keep_last: 2}}
  - {name: hourly-files, agency: dinkes, kind: files, files: {paths: [%q]}, schedule: "15 * * * *"}
`, h, filepath.Join(w.dir, "drc-local"), hour(3), hour(4), filepath.Join(w.dir, "drc-offsite"), hour(5), src, hour(1), src))
	w.startDaemon()
	for range 3 {
		if _, r := w.backupJSON("portal-files"); r.code != 0 {
			t.Fatalf("backup: %s", r)
		}
	}
	// Each successful backup queues the target's retention (one still waiting covers
	// the next backup too): keep_last 2 leaves two snapshots at the primary. The
	// secondary keeps a forgotten snapshot for replication.delete_after (deletion
	// grace) if it had reached it.
	waitRuns(t, w, time.Minute, func(rs []api.RunInfo) bool {
		// A waiting forget covers the backups that end before it starts: wait for
		// one that started after the last backup ended.
		var lastBackupEnd, lastForgetStart time.Time
		for _, r := range rs {
			if !r.Status.Done() {
				return false
			}
			switch {
			case r.Op == "backup" && r.Ended.After(lastBackupEnd):
				lastBackupEnd = r.Ended
			case r.Op == "forget" && r.Status == "succeeded" && r.Started.After(lastForgetStart):
				lastForgetStart = r.Started
			}
		}
		return !lastForgetStart.Before(lastBackupEnd)
	})
	var snaps, ledger []api.SnapshotInfo
	mustJSON(t, w.must("snapshots", "portal-files", "--drc", "local", "--json").stdout, &snaps)
	if len(snaps) != 2 {
		t.Errorf("keep_last 2 after 3 backups: %d snapshots at the primary", len(snaps))
	}
	mustJSON(t, w.must("snapshots", "portal-files", "--json").stdout, &ledger)
	for _, s := range ledger {
		if _, atLocal := s.Sites["local"]; !atLocal && s.DeleteAt["offsite"].IsZero() {
			t.Errorf("snapshot %s is gone from the primary but not waiting for deletion off-site: %+v", s.ShortID, s)
		}
	}
	r := w.must("forget", "portal-files", "--dry-run")
	if !strings.Contains(r.stdout, "kept 2, would remove 0") || !strings.Contains(r.stdout, "last snapshot") {
		t.Errorf("forget --dry-run: %s", r)
	}
	// Checks read the data part by part: 50% is two parts, in turn.
	for _, part := range []string{"1/2", "2/2", "1/2"} {
		if r := w.must("check", "--wait"); !strings.Contains(r.stdout, "read data part "+part) {
			t.Errorf("check, want part %s: %s", part, r)
		}
	}

	var st api.Status
	mustJSON(t, w.must("status", "--json").stdout, &st)
	if st.TimeZone != "Asia/Jakarta" || len(st.TargetStatus) != 2 || len(st.Next) == 0 || st.Queued != 0 {
		t.Fatalf("status: %+v", st)
	}
	if len(st.Replication) != 1 || st.Replication[0].DRC != "offsite" || st.Replication[0].SnapshotsPending != 0 || st.Replication[0].LagExceeded {
		t.Errorf("replication in status, all runs done: %+v", st.Replication)
	}
	if r := w.must("status"); !strings.Contains(r.stdout, "REPLICATION") {
		t.Errorf("status without its replication lag:\n%s", r.stdout)
	}
	pf := st.TargetStatus[0]
	if pf.Name != "portal-files" || pf.GoodSnapshots != len(ledger) || pf.OldestGood == nil || pf.NewestGood == nil ||
		pf.LastBackup == nil || pf.LastBackup.Status != "succeeded" || pf.NextRun == nil {
		t.Errorf("portal-files in status: %+v", pf)
	}
	if hf := st.TargetStatus[1]; hf.LastBackup != nil || hf.GoodSnapshots != 0 || hf.NextRun == nil {
		t.Errorf("hourly-files in status: %+v", hf)
	}
	if len(st.Repositories) != 1 || st.Repositories[0].LastCheck == nil || st.Repositories[0].NextPart != 2 {
		t.Errorf("repositories in status: %+v", st.Repositories)
	}
	plain := w.must("status").stdout
	for _, s := range []string{"NEXT RUNS", "TARGETS", "portal-files", "REPOSITORIES", "OLDEST GOOD"} {
		if !strings.Contains(plain, s) {
			t.Errorf("status lacks %q:\n%s", s, plain)
		}
	}

	var plan []api.PlannedRun
	mustJSON(t, w.must("schedule", "--json", "--hours", "48").stdout, &plan)
	count := map[string]int{}
	for _, p := range plan {
		count[p.Op+"/"+p.Target+p.DRC]++
		hm := p.Time.In(zone).Format("15:04")
		inWindow := since(p.Time, 0) < 3*60
		switch {
		case p.Op == "blackout":
			if hm != hhmm(0) || p.Until == nil || p.Until.Sub(p.Time) != 3*time.Hour || p.Reason != "network maintenance" {
				t.Errorf("window: %+v", p)
			}
		case inWindow != (p.Status == "held"):
			t.Errorf("%s %s at %s: status %s", p.Op, p.Target+p.DRC, hm, p.Status)
		case p.Status == "held" && (p.Until == nil || p.Until.In(zone).Format("15:04") != hhmm(3)):
			t.Errorf("held until %v: %+v", p.Until, p)
		}
		if p.Op == "backup" && p.Target == "portal-files" && since(p.Time, 1) >= 20 {
			t.Errorf("portal-files due at %s (%s with 20m jitter)", hm, hhmm(1))
		}
	}
	for key, n := range map[string]int{"backup/portal-fileslocal": 2, "backup/hourly-fileslocal": 48, "check/local": 2, "check/offsite": 2} {
		if count[key] != n {
			t.Errorf("%s: %d in 48 hours, want %d (all: %v)", key, count[key], n, count)
		}
	}
	if count["blackout/"] < 2 {
		t.Errorf("maintenance windows in 48 hours: %d", count["blackout/"])
	}
	if r := w.must("schedule", "--days", "8"); !strings.Contains(r.stdout, "prune") || !strings.Contains(r.stdout, `held by window "network maintenance"`) {
		t.Errorf("schedule --days 8: %s", r)
	}
	if r := w.cadang("schedule", "--hours", "5", "--days", "1"); r.code != 2 {
		t.Errorf("schedule with --hours and --days: %s", r)
	}
}

func jakartaZone(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/runs"
	"github.com/cadang/cadang/internal/testenv"
)

// snap is a snapshot of a retention case: "g", "p" (partial) or "b" (bad), and a time.
// A name starting with "wal" is a batch of WAL of a continuous postgres target (tagged
// pg_wal), the others of such a target its base backups.
type snap struct {
	name, status string
	at           string // 2006-01-02 15:04 in Asia/Jakarta, or with "Z" in UTC
}

func (s snap) time() time.Time {
	if strings.HasSuffix(s.at, "Z") {
		t, err := time.Parse("2006-01-02 15:04Z", s.at)
		if err != nil {
			panic(err)
		}
		return t
	}
	return wib(s.at + ":00")
}

func (s snap) wal() bool { return strings.HasPrefix(s.name, "wal") }

func statusOf(s string) string {
	return map[string]string{"g": catalog.SnapshotGood, "p": catalog.SnapshotPartial, "b": catalog.SnapshotBad}[s]
}

var retentionCases = []struct {
	name   string
	policy config.Retention
	snaps  []snap
	keep   string // names kept, newest first
}{
	{"keep_last 2", config.Retention{KeepLast: 2},
		[]snap{{"a", "g", "2026-11-01 02:00"}, {"b", "g", "2026-11-02 02:00"}, {"c", "g", "2026-11-03 02:00"}, {"d", "g", "2026-11-04 02:00"}},
		"d c"},
	{"daily 2 weekly 2", config.Retention{KeepDaily: 2, KeepWeekly: 2},
		[]snap{
			{"w1", "g", "2026-11-04 02:00"}, // Wednesday of week 45
			{"w2", "g", "2026-11-10 02:00"}, // Tuesday of week 46
			{"w3a", "g", "2026-11-16 02:00"},
			{"w3b", "g", "2026-11-17 02:00"},
			{"w3c", "g", "2026-11-17 20:00"},
		},
		"w3c w3a w2"},
	{"recent runs failed: the last good snapshots stay", config.Retention{KeepLast: 2},
		[]snap{
			{"g1", "g", "2026-11-01 02:00"}, {"g2", "g", "2026-11-02 02:00"}, {"g3", "g", "2026-11-03 02:00"},
			{"p1", "p", "2026-11-04 02:00"}, {"b1", "b", "2026-11-05 02:00"}, {"p2", "p", "2026-11-06 02:00"},
		},
		"p2 b1 p1 g3 g2"},
	{"old failures go once older than every good snapshot kept", config.Retention{KeepLast: 1},
		[]snap{{"b0", "b", "2026-11-01 02:00"}, {"g1", "g", "2026-11-02 02:00"}, {"p1", "p", "2026-11-03 02:00"}, {"g2", "g", "2026-11-04 02:00"}},
		"g2"},
	{"no good snapshot: nothing is removed", config.Retention{KeepLast: 1},
		[]snap{{"p1", "p", "2026-11-01 02:00"}, {"b1", "b", "2026-11-02 02:00"}, {"p2", "p", "2026-11-03 02:00"}},
		"p2 b1 p1"},
	{"keep_within counts from the newest good snapshot", config.Retention{KeepWithin: 36 * time.Hour},
		[]snap{{"a", "g", "2026-10-01 02:00"}, {"b", "g", "2026-10-02 02:00"}, {"c", "g", "2026-10-03 02:00"}, {"p", "p", "2026-11-20 02:00"}},
		"p c b"},
	// Days are counted in Asia/Jakarta: 20:00Z and 01:00Z the next UTC day are the same
	// WIB day (03:00 and 08:00); in UTC they would be two.
	{"days in the configured time zone", config.Retention{KeepDaily: 2},
		[]snap{{"x", "g", "2026-11-22 20:00Z"}, {"y", "g", "2026-11-23 20:00Z"}, {"z", "g", "2026-11-24 01:00Z"}},
		"z x"},
	// The policy counts base backups only; WAL since the oldest base backup kept stays
	// (a restore to any time since then needs it), older WAL goes, whatever its status.
	{"continuous postgres: WAL since the oldest base backup kept", config.Retention{KeepLast: 2},
		[]snap{
			{"base1", "g", "2026-11-01 01:00"}, {"wal1", "g", "2026-11-01 01:01"}, {"wal2", "b", "2026-11-05 10:00"},
			{"base2", "g", "2026-11-08 01:00"}, {"wal3", "g", "2026-11-08 01:01"}, {"wal4", "g", "2026-11-10 10:00"},
			{"base3", "p", "2026-11-15 01:00"}, {"wal5", "b", "2026-11-15 01:01"},
			{"base4", "g", "2026-11-22 01:00"}, {"wal6", "g", "2026-11-22 01:01"}, {"wal7", "g", "2026-11-24 23:59"},
		},
		"wal7 wal6 base4 wal5 base3 wal4 wal3 base2"},
	{"continuous postgres without a good base backup: every WAL batch stays", config.Retention{KeepLast: 1},
		[]snap{{"wal1", "g", "2026-11-01 01:00"}, {"base1", "p", "2026-11-02 01:00"}, {"wal2", "g", "2026-11-03 01:00"}},
		"wal2 base1 wal1"},
}

func TestPlanRetention(t *testing.T) {
	now := wib("2026-11-25 00:00:00")
	for _, tc := range retentionCases {
		t.Run(tc.name, func(t *testing.T) {
			var in []runs.RetentionDecision
			names := map[string]string{}
			for _, s := range tc.snaps {
				in = append(in, runs.RetentionDecision{ID: s.name + "-id", Time: s.time(), Status: statusOf(s.status), WAL: s.wal()})
				names[s.name+"-id"] = s.name
			}
			var kept []string
			for _, d := range runs.PlanRetention(in, tc.policy, jakarta, now) {
				if d.Keep {
					kept = append(kept, names[d.ID])
				}
				if len(d.Reasons) == 0 {
					t.Errorf("%s: no reason given", names[d.ID])
				}
			}
			if got := strings.Join(kept, " "); got != tc.keep {
				t.Errorf("kept %q, want %q", got, tc.keep)
			}
		})
	}
}

// retentionWorld is a daemon whose primary DRC is a real MinIO, with one target per
// retention case, all of one agency (one repository).
func retentionWorld(t *testing.T) (*Daemon, *testenv.MinIO, *clock) {
	m := testenv.StartMinIO(t, "cadang")
	restic := testenv.Restic(t)
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "restic: {binary: %q}\ndrcs:\n  - {name: local, role: primary, s3: {endpoint: %q, bucket: cadang, access_key: %s, secret_key_file: %s, insecure: true}}\nagencies:\n",
		restic, m.Endpoint, m.AccessKey, m.SecretKeyFile())
	b.WriteString("  - {id: dinkes}\ntargets:\n")
	for i, tc := range retentionCases {
		p := tc.policy
		fmt.Fprintf(&b, "  - {name: t%d, agency: dinkes, kind: stub, stub: {}, retention: {keep_last: %d, keep_daily: %d, keep_weekly: %d, keep_within: %s}}\n",
			i, p.KeepLast, p.KeepDaily, p.KeepWeekly, p.KeepWithin)
	}
	cfg := testConfig(t, dir, b.String())
	clk := &clock{t: wib("2026-11-25 00:00:00")}
	return newTestDaemon(t, cfg, clk.Now), m, clk
}

// makeSnapshot writes a snapshot of target into its repository with restic itself, at
// the given time, tagged as cadang tags its own; a partial one also status=partial. A
// bad one is left untagged and recorded as bad in the catalog only, as when a backup
// could not tag it.
func makeSnapshot(t *testing.T, d *Daemon, m *testenv.MinIO, target, agency string, s snap, run uint64) string {
	t.Helper()
	repo := d.sites.primary().Repo(agency)
	tags := fmt.Sprintf("cadang,target=%s,agency=%s,kind=stub,run=%d", target, agency, run)
	if s.status == "p" {
		tags += ",status=partial"
	}
	if s.wal() {
		tags += ",pg_wal=000000010000000000000001-000000010000000000000002"
	} else if strings.HasPrefix(s.name, "base") {
		tags += ",pg_base=1"
	}
	cmd := exec.Command(testenv.Restic(t), "backup", "--json", "--stdin", "--stdin-filename", s.name+".txt",
		"--host", target, "--tag", tags, "--time", s.time().Format("2006-01-02 15:04:05"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TZ=" + s.time().Location().String(),
		"RESTIC_REPOSITORY=" + repo.URL, "RESTIC_PASSWORD_FILE=" + filepath.Join(d.conf().cfg.StateDir, "keys", "local", agency+".key"),
		"RESTIC_CACHE_DIR=" + filepath.Join(d.conf().cfg.StateDir, "cache", "local"),
		"AWS_ACCESS_KEY_ID=" + m.AccessKey, "AWS_SECRET_ACCESS_KEY=" + m.SecretKey}
	cmd.Stdin = strings.NewReader("content of " + s.name)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("restic backup: %v", err)
	}
	var id string
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, `"snapshot_id":"`); i >= 0 {
			id = line[i+15 : i+15+64]
		}
	}
	if id == "" {
		t.Fatalf("no snapshot id in %s", out)
	}
	err = d.cat.PutSnapshot(&catalog.Snapshot{ID: id, Target: target, Agency: agency, Kind: "stub", Time: s.time(), RunID: run,
		Status: statusOf(s.status), DRC: "local", Sites: map[string]time.Time{"local": time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// runQueued executes every run the queue would start now, one after the other.
func runQueued(d *Daemon) {
	for {
		js := d.queue.Take()
		if len(js) == 0 {
			return
		}
		for _, j := range js {
			d.execute(j)
			d.queue.Finish(j)
		}
	}
}

// Retention on a real restic repository at a real MinIO keeps exactly what the policy
// says, counting good snapshots only, never removing the last good ones when the
// recent runs failed; and it does nothing after a failed backup.
func TestRetentionOnRealRepository(t *testing.T) {
	d, m, _ := retentionWorld(t)
	ctx := context.Background()
	names := map[string]map[string]string{} // target -> snapshot id -> name
	if res := drc.Ensure(ctx, d.sites, "dinkes"); res[0].Error != "" {
		t.Fatal(res[0].Error)
	}
	for i, tc := range retentionCases {
		target, agency := fmt.Sprintf("t%d", i), "dinkes"
		names[target] = map[string]string{}
		for k, s := range tc.snaps {
			names[target][makeSnapshot(t, d, m, target, agency, s, uint64(100*i+k+1))] = s.name
		}
	}

	// After a failed backup, retention does nothing.
	failed := &catalog.Run{Op: "backup", Target: "t0", Agency: "dinkes", Status: catalog.Failed, Reason: reasonSchedule, Error: "dump failed"}
	if err := d.cat.AddRun(failed); err != nil {
		t.Fatal(err)
	}
	if _, err := d.submitAll([]submission{d.forgetSubmission(d.conf().targets["t0"], false, reasonRetention, queue.PriorityScheduled)}, nil); err != nil {
		t.Fatal(err)
	}
	runQueued(d)
	runs, _ := d.cat.Runs(catalog.RunFilter{Target: "t0", Op: "forget"})
	if len(runs) != 1 || runs[0].Status != catalog.Succeeded || !strings.Contains(strings.Join(runs[0].Notes, ";"), "skipped: the latest backup") {
		t.Fatalf("retention after a failed backup: %+v", runs)
	}
	if snaps, _ := d.sites.primary().Repo("dinkes").Snapshots(ctx, "target=t0"); len(snaps) != len(retentionCases[0].snaps) {
		t.Fatalf("retention after a failed backup removed snapshots: %d left", len(snaps))
	}

	for i := range retentionCases {
		if _, err := d.Forget(fmt.Sprintf("t%d", i), false); err != nil {
			t.Fatal(err)
		}
	}
	runQueued(d)
	for i, tc := range retentionCases {
		target := fmt.Sprintf("t%d", i)
		t.Run(tc.name, func(t *testing.T) {
			runs, _ := d.cat.Runs(catalog.RunFilter{Target: target, Op: "forget", Limit: 1})
			if len(runs) != 1 || runs[0].Status != catalog.Succeeded {
				t.Fatalf("forget run: %+v", runs)
			}
			snaps, err := d.sites.primary().Repo("dinkes").Snapshots(ctx, "target="+target)
			if err != nil {
				t.Fatal(err)
			}
			sort.Slice(snaps, func(a, b int) bool { return snaps[a].Time.After(snaps[b].Time) })
			var kept []string
			for _, s := range snaps {
				name, ok := names[target][s.ID]
				if !ok { // re-tagged: a bad snapshot the backup could not tag
					rec, err := d.cat.Snapshot(s.ID)
					if err != nil || s.Tag("status") != rec.Status {
						t.Errorf("snapshot %s: unknown, or its tags %v do not say %v", s.ShortID, s.Tags, rec)
					}
					name = "?" + rec.Status
					for _, sn := range tc.snaps {
						if sn.time().Equal(s.Time) {
							name = sn.name
						}
					}
				}
				kept = append(kept, name)
			}
			if got := strings.Join(kept, " "); got != tc.keep {
				t.Errorf("the repository keeps %q, want %q\nrun notes: %v", got, tc.keep, runs[0].Notes)
			}
			// The catalog forgets what the repository no longer holds.
			recs, _ := d.cat.Snapshots(target)
			if len(recs) != len(snaps) {
				t.Errorf("catalog holds %d snapshots, repository %d", len(recs), len(snaps))
			}
		})
	}
}

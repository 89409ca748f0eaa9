package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
)

// simRun is one run in the simulation.
type simRun struct {
	j                      *queue.Job
	queued, started, ended time.Time
}

// 500 targets on schedules for a simulated day, with on-demand backups, prunes and
// checks, and a maintenance window, driven by an injected clock in 10-second steps
// (run bodies are simulated: each takes 10 to 60 simulated seconds). Every due slot
// must be queued exactly once, at its due time; the limits (global, per DRC, per
// target, exclusive repository) must hold at every step; no scheduled run may start in
// the maintenance window; and no run may starve.
func TestScheduler500Targets(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString(`daemon: {concurrency: 6}
scheduler:
  blackout: [{name: noon, start: "31 12 * * *", duration: 19m}]
drcs:
  - {name: local, role: primary, path: $DIR/local, concurrency: 5, maintenance: {prune: "30 3 * * *"}}
  - {name: offsite, role: secondary, path: $DIR/offsite, concurrency: 1, maintenance: {check: "0 3 * * *"}}
agencies:
`)
	for a := range 10 {
		fmt.Fprintf(&b, "  - {id: a%d}\n", a)
	}
	b.WriteString("targets:\n")
	var daily []string
	for i := range 500 {
		name := fmt.Sprintf("t%03d", i)
		sched := `"0 2 * * *", jitter: 2h`
		switch {
		case i%25 < 2:
			sched = `"*/30 * * * *"`
		case i%25 < 5:
			sched = `"0 * * * *"`
		default:
			daily = append(daily, name)
		}
		fmt.Fprintf(&b, "  - {name: %s, agency: a%d, kind: stub, stub: {}, schedule: %s}\n", name, i%10, sched)
	}
	cfg := testConfig(t, dir, b.String())

	clk := &clock{t: wib("2026-11-23 00:00:00")}
	d := newTestDaemon(t, cfg, clk.Now)
	if err := d.startup(nil); err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	end := start.Add(24 * time.Hour)
	const step = 10 * time.Second
	rng := rand.New(rand.NewPCG(6, 500))
	noonStart, noonEnd := wib("2026-11-23 12:31:00"), wib("2026-11-23 12:50:00")

	all := map[uint64]*simRun{}
	running := map[uint64]*simRun{}
	lastTick := start
	for now := start; ; now = clk.Add(step) {
		for id, r := range running {
			if !now.Before(r.ended) {
				d.queue.Finish(r.j)
				delete(running, id)
			}
		}
		if now.Before(end) {
			lastTick = now
			if err := d.fire(d.conf().sched.Tick(now), nil); err != nil {
				t.Fatal(err)
			}
			// On-demand backups arrive 30 s after the top of the hour, behind a burst of
			// 100 scheduled runs: they must go first.
			if now.Hour()%6 == 0 && now.Minute() == 0 && now.Second() == 30 {
				for range 5 {
					if _, err := d.Backup(daily[rng.IntN(len(daily))], reasonOnDemand, queue.PriorityOnDemand); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		for _, j := range d.queue.Pending(math.MaxInt) {
			if all[j.Run.ID] == nil {
				all[j.Run.ID] = &simRun{j: j, queued: j.Run.Queued}
			}
		}
		for _, j := range d.queue.Take() {
			r := all[j.Run.ID]
			if r == nil {
				t.Fatalf("run %d started without being seen queued", j.Run.ID)
			}
			dur := time.Duration(10+rng.IntN(51)) * time.Second
			r.started, r.ended = now, now.Add(dur)
			running[j.Run.ID] = r
			if j.Priority == queue.PriorityScheduled && !now.Before(noonStart) && now.Before(noonEnd) {
				t.Errorf("scheduled run %d (%s %s) started at %s, in the maintenance window", j.Run.ID, j.Run.Op, j.Run.Target, now.Format("15:04:05"))
			}
		}
		checkLimits(t, now, running, cfg.Daemon.Concurrency, map[string]int{"local": 5, "offsite": 1})
		pending, _ := d.queue.Counts()
		if !now.Before(end) && len(running) == 0 && pending == 0 {
			break
		}
		if now.After(end.Add(6 * time.Hour)) {
			t.Fatalf("the queue did not drain: %d waiting, %d running", pending, len(running))
		}
	}

	// Every due slot queued exactly once, at its due time.
	byTarget := map[string][]*simRun{}
	ops := map[string]int{}
	var maxWait, maxOnDemandWait time.Duration
	for _, r := range all {
		ops[r.j.Run.Op+"/"+r.j.Run.Reason]++
		if r.started.IsZero() {
			t.Errorf("run %d (%s %s) never started", r.j.Run.ID, r.j.Run.Op, r.j.Run.Target)
			continue
		}
		wait := r.started.Sub(r.queued)
		if r.j.Priority == queue.PriorityOnDemand {
			maxOnDemandWait = max(maxOnDemandWait, wait)
			continue
		}
		maxWait = max(maxWait, wait)
		if r.j.Run.Op == "backup" {
			if r.j.Run.Reason != reasonSchedule {
				t.Errorf("run %d of %s has reason %q", r.j.Run.ID, r.j.Run.Target, r.j.Run.Reason)
			}
			byTarget[r.j.Run.Target] = append(byTarget[r.j.Run.Target], r)
		}
	}
	slots := 0
	for _, tc := range cfg.Targets {
		e := d.conf().sched.Lookup("backup/" + tc.Name)
		var want []time.Time
		for s := e.Sched.Next(start); !s.Add(e.Offset).After(lastTick); s = e.Sched.Next(s) {
			want = append(want, s.Add(e.Offset))
		}
		got := byTarget[tc.Name]
		sort.Slice(got, func(i, j int) bool { return got[i].queued.Before(got[j].queued) })
		if len(got) != len(want) {
			t.Errorf("%s (%s): %d scheduled runs, want %d (one per due slot)", tc.Name, tc.Schedule, len(got), len(want))
			continue
		}
		for k := range want {
			if got[k].queued.Before(want[k]) || !got[k].queued.Before(want[k].Add(step)) {
				t.Errorf("%s: run %d queued at %s for the slot due at %s", tc.Name, got[k].j.Run.ID, got[k].queued, want[k])
			}
		}
		slots += len(want)
	}
	if ops["prune/schedule"] != 10 || ops["check/schedule"] != 10 || ops["backup/on-demand"] != 20 {
		t.Errorf("runs by op and reason: %v", ops)
	}
	// No starvation: bursts of 100 runs at the top of each hour and the 19-minute window
	// delay scheduled runs by minutes; on-demand runs take the next free slot.
	if maxWait > time.Hour || maxOnDemandWait > 2*time.Minute {
		t.Errorf("longest wait: scheduled %s, on-demand %s", maxWait, maxOnDemandWait)
	}
	t.Logf("%d due slots queued exactly once; %d runs in all; longest wait %s (on-demand %s)", slots, len(all), maxWait, maxOnDemandWait)
}

// checkLimits fails the test if the running set breaks a limit.
func checkLimits(t *testing.T, now time.Time, running map[uint64]*simRun, global int, perDRC map[string]int) {
	t.Helper()
	if len(running) > global {
		t.Fatalf("%s: %d runs at once (limit %d)", now, len(running), global)
	}
	drcs, tgts := map[string]int{}, map[string]int{}
	repos := map[string][]*queue.Job{}
	for _, r := range running {
		j := r.j
		drcs[j.Uses.DRC]++
		if j.Run.Target != "" {
			tgts[j.Run.Target]++
		}
		repos[j.Uses.Repo] = append(repos[j.Uses.Repo], j)
	}
	for name, n := range drcs {
		if lim := perDRC[name]; lim > 0 && n > lim {
			t.Fatalf("%s: %d runs at drc %s (limit %d)", now, n, name, lim)
		}
	}
	for name, n := range tgts {
		if n > 1 {
			t.Fatalf("%s: %d runs of target %s at once", now, n, name)
		}
	}
	for repo, js := range repos {
		for _, j := range js {
			if j.Uses.Exclusive && len(js) > 1 {
				t.Fatalf("%s: %s (run %d) shares repository %s with %d other runs", now, j.Run.Op, j.Run.ID, repo, len(js)-1)
			}
		}
	}
}

const downtimeConfig = `drcs:
  - {name: local, role: primary, path: $DIR/local, maintenance: {check: "0 3 * * *"}}
agencies: [{id: dinkes}]
targets:
  - {name: hourly, agency: dinkes, kind: stub, stub: {}, schedule: "0 * * * *", jitter: 10m}
  - {name: nocatch, agency: dinkes, kind: stub, stub: {}, schedule: "0 * * * *", catchup: false}
  - {name: nightly, agency: dinkes, kind: stub, stub: {}, schedule: "0 23 * * *"}
`

// A daemon down across three due slots of an hourly schedule queues exactly one
// catch-up run at start; a target with catchup: false queues none; a schedule that
// came due only later runs on time. Nothing is made up twice.
func TestDowntimeGivesOneCatchUp(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, downtimeConfig)
	clk := &clock{t: wib("2026-11-23 00:30:00")}

	d := newTestDaemon(t, cfg, clk.Now)
	if err := d.startup(nil); err != nil {
		t.Fatal(err)
	}
	off := d.conf().sched.Lookup("backup/hourly").Offset
	if pending, _ := d.queue.Counts(); pending != 0 {
		t.Fatalf("a first start queued %d runs", pending)
	}
	fire := func(d *Daemon, at time.Time) {
		clk.Set(at)
		if err := d.fire(d.conf().sched.Tick(at), nil); err != nil {
			t.Fatal(err)
		}
	}
	fire(d, wib("2026-11-23 01:00:00"))          // the 01:00 slots, on time
	fire(d, wib("2026-11-23 01:00:00").Add(off)) // hourly's, with its jitter
	if runs := reasons(t, d, "hourly"); runs != "schedule" {
		t.Fatalf("hourly at 01:00: %s", runs)
	}
	drain(d)
	d.cat.Close() // the daemon dies; 02:00, 03:00 and 04:00 pass (and the 03:00 check)

	clk.Set(wib("2026-11-23 04:30:00"))
	d2 := newTestDaemon(t, cfg, clk.Now)
	orphans, err := d2.recoverOrphans()
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.startup(orphans); err != nil {
		t.Fatal(err)
	}
	if got := reasons(t, d2, "hourly"); got != "schedule catch-up" {
		t.Errorf("hourly after 3 missed slots: %s (want one catch-up)", got)
	}
	if got := reasons(t, d2, "nocatch"); got != "schedule" {
		t.Errorf("nocatch (catchup: false): %s", got)
	}
	if got := reasons(t, d2, "nightly"); got != "" {
		t.Errorf("nightly, not due yet: %s", got)
	}
	if checks, _ := d2.cat.Runs(catalog.RunFilter{Op: "check"}); len(checks) != 1 || checks[0].Reason != reasonCatchUp {
		t.Errorf("missed check: %+v", checks)
	}
	// The 01:00 run was still queued when the daemon died: it is interrupted now, and
	// the one catch-up covers it too.
	if runs, _ := d2.cat.Runs(catalog.RunFilter{Target: "hourly"}); runs[1].Status != catalog.Interrupted {
		t.Errorf("the run the dead daemon left: %+v", runs[1])
	}
	fire(d2, wib("2026-11-23 05:00:00"))
	fire(d2, wib("2026-11-23 05:00:00").Add(off))
	if got := reasons(t, d2, "hourly"); got != "schedule catch-up" {
		t.Errorf("hourly at 05:00: the slot must join the catch-up still waiting, got %s", got)
	}
	drain(d2)
	fire(d2, wib("2026-11-23 06:00:00"))
	fire(d2, wib("2026-11-23 06:00:00").Add(off))
	if got := reasons(t, d2, "hourly"); got != "schedule catch-up schedule" {
		t.Errorf("hourly at 06:00: %s", got)
	}
	drain(d2)
	d2.cat.Close()

	// A restart without downtime makes up nothing.
	d3 := newTestDaemon(t, cfg, clk.Now)
	if err := d3.startup(nil); err != nil {
		t.Fatal(err)
	}
	if pending, _ := d3.queue.Counts(); pending != 0 {
		t.Errorf("a restart without downtime queued %d runs", pending)
	}
}

// A slot handled late in a running daemon (the machine slept) is a catch-up; with
// catchup: false it is skipped.
func TestLateSlotIsCatchUp(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), downtimeConfig)
	clk := &clock{t: wib("2026-11-23 00:30:00")}
	d := newTestDaemon(t, cfg, clk.Now)
	if err := d.startup(nil); err != nil {
		t.Fatal(err)
	}
	at := clk.Add(3 * time.Hour) // asleep from 00:30 to 03:30
	if err := d.fire(d.conf().sched.Tick(at), nil); err != nil {
		t.Fatal(err)
	}
	if got := reasons(t, d, "hourly"); got != "catch-up" {
		t.Errorf("hourly after sleeping: %s", got)
	}
	if got := reasons(t, d, "nocatch"); got != "" {
		t.Errorf("nocatch after sleeping: %s", got)
	}
	// The next slot comes at its time.
	if next, _ := d.conf().sched.NextOf("backup/nocatch"); !next.Equal(wib("2026-11-23 04:00:00")) {
		t.Errorf("next slot of nocatch: %s", next)
	}
}

// A schedule whose cron changed starts from now: no catch-up for slots of the old one.
func TestChangedScheduleStartsFromNow(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: wib("2026-11-23 00:30:00")}
	d := newTestDaemon(t, testConfig(t, dir, downtimeConfig), clk.Now)
	if err := d.startup(nil); err != nil {
		t.Fatal(err)
	}
	d.cat.Close()
	clk.Set(wib("2026-11-24 00:30:00"))
	changed := strings.Replace(downtimeConfig, `schedule: "0 23 * * *"`, `schedule: "0 22 * * *"`, 1)
	d2 := newTestDaemon(t, testConfig(t, dir, changed), clk.Now)
	if err := d2.startup(nil); err != nil {
		t.Fatal(err)
	}
	if got := reasons(t, d2, "nightly"); got != "" {
		t.Errorf("nightly with a changed schedule: %s", got)
	}
	if got := reasons(t, d2, "hourly"); got != "catch-up" {
		t.Errorf("hourly, unchanged, down for a day: %s", got)
	}
}

// reasons lists the reasons of a target's runs, oldest first.
func reasons(t *testing.T, d *Daemon, target string) string {
	t.Helper()
	runs, err := d.cat.Runs(catalog.RunFilter{Target: target})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(runs) - 1; i >= 0; i-- {
		out = append(out, runs[i].Reason)
	}
	return strings.Join(out, " ")
}

// drain marks every waiting job as run (without running anything).
func drain(d *Daemon) {
	for _, j := range d.queue.Take() {
		d.queue.Finish(j)
	}
}

// A continuous target's log batch that a dead daemon left running, or that was
// interrupted, is no reason for a catch-up full backup: its files stay in the spool
// until a batch records them. A full backup interrupted before those batches still is.
func TestInterruptedLogBatchNeedsNoCatchUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		runs   []catalog.Run // oldest first
		orphan bool          // the newest run was running when the daemon died
		want   string        // the reason of the run queued at start, or ""
	}{
		{"batch interrupted", []catalog.Run{{Reason: reasonSchedule, Status: catalog.Succeeded}, {Reason: reasonWALArchive, Status: catalog.Interrupted}}, false, ""},
		{"batch left running", []catalog.Run{{Reason: reasonSchedule, Status: catalog.Succeeded}, {Reason: reasonWALArchive, Status: catalog.Running}}, true, ""},
		{"full backup interrupted then batches", []catalog.Run{{Reason: reasonSchedule, Status: catalog.Interrupted}, {Reason: reasonWALArchive, Status: catalog.Succeeded}}, false, reasonCatchUp},
		{"full backup left running", []catalog.Run{{Reason: reasonSchedule, Status: catalog.Running}}, true, reasonCatchUp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: wib("2026-11-23 00:30:00")}
			d := newTestDaemon(t, testConfig(t, t.TempDir(), downtimeConfig), clk.Now)
			var orphans []catalog.Run
			for i, r := range tc.runs {
				r.Op, r.Target, r.Agency, r.Kind, r.DRC = "backup", "nightly", "dinkes", "stub", "local"
				if err := d.cat.AddRun(&r); err != nil {
					t.Fatal(err)
				}
				if tc.orphan && i == len(tc.runs)-1 {
					orphans = append(orphans, r)
				}
			}
			if err := d.startup(orphans); err != nil {
				t.Fatal(err)
			}
			var got string
			for _, j := range d.queue.Take() {
				got += j.Run.Reason
			}
			if got != tc.want {
				t.Errorf("queued at start: %q, want %q", got, tc.want)
			}
		})
	}
}

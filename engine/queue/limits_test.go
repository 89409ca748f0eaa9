package queue

import (
	"testing"
	"time"

	"github.com/cadang/cadang/engine/catalog"
)

func limitJob(id uint64, op, target, drc, agency string, prio int) *Job {
	r := &catalog.Run{ID: id, Op: op, Target: target, DRC: drc, Agency: agency, Queued: time.Unix(int64(id), 0)}
	return &Job{Run: r, Priority: prio, Uses: UsesOf(r)}
}

// A run that waits says why: a prune waits for the backups of its repository, a
// backup for a running prune, later runs for a prune that waits (so it cannot
// starve), runs at a DRC for its limit, scheduled runs for a maintenance window.
func TestWaitReasons(t *testing.T) {
	q := New(10)
	q.DRCLimits = map[string]int{"offsite": 1}
	window := ""
	q.Hold = func() string { return window }
	add := func(j *Job) *Job {
		if err := q.Add(j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	why := func(j *Job) string { _, _, w := j.State(); return w }

	b1 := add(limitJob(1, "backup", "a", "local", "dinkes", PriorityScheduled))
	if got := len(q.Take()); got != 1 {
		t.Fatalf("started %d", got)
	}
	prune := add(limitJob(2, "prune", "", "local", "dinkes", PriorityScheduled))
	b3 := add(limitJob(3, "backup", "b", "local", "dinkes", PriorityScheduled))
	other := add(limitJob(4, "backup", "c", "local", "dishub", PriorityScheduled))
	c5 := add(limitJob(5, "check", "", "offsite", "dinkes", PriorityScheduled))
	c6 := add(limitJob(6, "check", "", "offsite", "dishub", PriorityScheduled))
	started := q.Take()
	if len(started) != 2 || started[0] != other || started[1] != c5 {
		t.Fatalf("started %v", ids(started))
	}
	for j, want := range map[*Job]string{
		prune: "waiting: repository busy with backup (run 1)",
		b3:    "waiting: repository reserved for prune (run 2, queued earlier)",
		c6:    `waiting: drc "offsite" busy: 1 runs already running there (its concurrency)`,
	} {
		if got := why(j); got != want {
			t.Errorf("run %d waits because %q, want %q", j.Run.ID, got, want)
		}
	}
	q.Finish(b1)
	if started := q.Take(); len(started) != 1 || started[0] != prune {
		t.Fatalf("after the backup ended, started %v", ids(started))
	}
	if got := why(b3); got != "waiting: repository busy with prune (run 2)" {
		t.Errorf("backup during a prune waits because %q", got)
	}

	// A maintenance window holds scheduled runs; on-demand runs go on.
	window = `waiting: maintenance window "noon" until 2026-11-23 12:50 WIB`
	sched := add(limitJob(7, "backup", "d", "local", "dishub2", PriorityScheduled))
	demand := add(limitJob(8, "backup", "e", "local", "dishub3", PriorityOnDemand))
	if started := q.Take(); len(started) != 1 || started[0] != demand {
		t.Fatalf("in the window, started %v", ids(started))
	}
	if got := why(sched); got != window {
		t.Errorf("scheduled run in a window waits because %q", got)
	}
	window = ""
	q.Finish(prune)
	started = q.Take()
	if len(started) != 2 || started[0] != b3 || started[1] != sched {
		t.Fatalf("after the window and the prune, started %v", ids(started))
	}
}

func ids(js []*Job) []uint64 {
	var out []uint64
	for _, j := range js {
		out = append(out, j.Run.ID)
	}
	return out
}

// A second replication pass of the same secondary and agency waits in the queue, not in
// a slot: it is queued (not running) while the first runs, says why, and starts when
// the first ends; a pass of another agency is not held.
func TestReplicatePassesWaitInTheQueue(t *testing.T) {
	q := New(10)
	add := func(j *Job) *Job {
		if err := q.Add(j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	first := add(limitJob(1, "replicate", "", "offsite", "dinkes", PriorityScheduled))
	if got := q.Take(); len(got) != 1 || got[0] != first {
		t.Fatalf("started %v", ids(got))
	}
	second := add(limitJob(2, "replicate", "", "offsite", "dinkes", PriorityScheduled))
	other := add(limitJob(3, "replicate", "", "offsite", "dishub", PriorityScheduled))
	if got := q.Take(); len(got) != 1 || got[0] != other {
		t.Fatalf("with a pass running, started %v; want only the other agency's", ids(got))
	}
	if v, _, why := second.State(); v.Status == catalog.Running || why != "waiting: replicate run 1 of the same drc and agency is running" {
		t.Errorf("second pass: %s, waiting %q", v.Status, why)
	}
	q.Finish(first)
	if got := q.Take(); len(got) != 1 || got[0] != second {
		t.Fatalf("after the first pass, started %v", ids(got))
	}
}

package engine

import (
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
)

// A replicate run reads the primary's repository too: a prune there waits for it, and
// a replicate run queued after a waiting prune waits for the prune.
func TestReplicateSharesThePrimary(t *testing.T) {
	q := queue.New(10)
	d := &Daemon{sites: testSites("local", "offsite")}
	add := func(id uint64, op, drc string) *queue.Job {
		r := &catalog.Run{ID: id, Op: op, DRC: drc, Agency: "dinkes", Queued: time.Unix(int64(id), 0)}
		j := &queue.Job{Run: r, Priority: queue.PriorityScheduled, Uses: d.sites.usesOf(r)}
		if err := q.Add(j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	why := func(j *queue.Job) string { _, _, w := j.State(); return w }
	repl := add(1, "replicate", "offsite")
	if got := q.Take(); len(got) != 1 || got[0] != repl {
		t.Fatalf("started %v", ids(got))
	}
	prune := add(2, "prune", "local")
	repl2 := add(3, "replicate", "offsite")
	if got := q.Take(); len(got) != 0 {
		t.Fatalf("started %v beside a replicate run", ids(got))
	}
	if got := why(prune); got != "waiting: repository busy with replicate (run 1)" {
		t.Errorf("prune at the primary waits because %q", got)
	}
	q.Finish(repl)
	if got := q.Take(); len(got) != 1 || got[0] != prune {
		t.Fatalf("after the replicate run, started %v", ids(got))
	}
	if got := why(repl2); got != "waiting: repository busy with prune (run 2)" {
		t.Errorf("replicate during a prune at the primary waits because %q", got)
	}
}

// testSites returns sites named names, the first the primary (for the queue's use).
func testSites(names ...string) []*drc.Site {
	var out []*drc.Site
	for i, n := range names {
		role := drc.RoleSecondary
		if i == 0 {
			role = drc.RolePrimary
		}
		out = append(out, &drc.Site{Config: drc.Config{Name: n, Role: role}})
	}
	return out
}

func ids(js []*queue.Job) []uint64 {
	var out []uint64
	for _, j := range js {
		out = append(out, j.Run.ID)
	}
	return out
}

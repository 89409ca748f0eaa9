package queue

import (
	"fmt"

	"github.com/cadang/cadang/engine/catalog"
)

// Uses is what a job needs besides a slot of daemon.concurrency.
type Uses struct {
	DRC  string // the DRC it works at ("": none)
	Repo string // the repository it works on, drc/agency ("": none)
	// exclusive: nothing else may use the repository meanwhile. restic takes an
	// exclusive lock for forget, prune and check; a backup running beside one of them
	// would fail on restic's lock, so the queue keeps them apart instead.
	Exclusive bool
	// shared are other repositories it reads or writes beside repo, never exclusively
	// (a replicate run works at the secondary and reads the primary): exclusive runs
	// there wait for it, and it waits for them.
	Shared []string
	// serial: jobs with the same serial key run one at a time; the later ones wait in
	// the queue, holding no slot (two passes of replication to the same secondary for
	// the same agency).
	Serial string
	// beside: the job may run while another job of its target runs, and does not keep
	// its target busy (a drill of a continuous target waits for the WAL that its
	// target's archive runs store meanwhile).
	Beside bool
}

// limits is the state of one dispatch pass: what the running jobs (and the jobs started
// earlier in the pass) hold.
type limits struct {
	q        *Queue
	running  int
	targets  map[string]*Job // target -> its running job
	drcs     map[string]int  // drc -> running jobs there
	repos    map[string]*Job // repository -> one running job on it (the exclusive one if any)
	reserved map[string]*Job // repository -> the earlier exclusive job waiting for it
	serials  map[string]*Job // serial key -> its running job
	hold     string          // why scheduled jobs wait now (a maintenance window), or ""
}

func (q *Queue) newLimits() *limits {
	st := &limits{q: q, targets: map[string]*Job{}, drcs: map[string]int{}, repos: map[string]*Job{}, reserved: map[string]*Job{},
		serials: map[string]*Job{}}
	for _, j := range q.running {
		st.start(j)
	}
	if q.Hold != nil {
		st.hold = q.Hold()
	}
	return st
}

// start counts j as running.
func (st *limits) start(j *Job) {
	st.running++
	if j.Run.Target != "" && !j.Uses.Beside {
		st.targets[j.Run.Target] = j
	}
	if j.Uses.DRC != "" {
		st.drcs[j.Uses.DRC]++
	}
	if r := j.Uses.Repo; r != "" {
		if cur := st.repos[r]; cur == nil || j.Uses.Exclusive {
			st.repos[r] = j
		}
	}
	for _, r := range j.Uses.Shared {
		if st.repos[r] == nil {
			st.repos[r] = j
		}
	}
	if k := j.Uses.Serial; k != "" {
		st.serials[k] = j
	}
}

// blocked says why j cannot start now, or "" if it can. It is called for the pending
// jobs in queue order: an exclusive job that must wait reserves its repository, so that
// jobs queued after it cannot keep the repository busy forever (no starvation).
func (st *limits) blocked(j *Job) string {
	why := st.why(j)
	if why != "" && j.Uses.Exclusive && j.Uses.Repo != "" && !st.held(j) && st.reserved[j.Uses.Repo] == nil {
		st.reserved[j.Uses.Repo] = j
	}
	return why
}

func (st *limits) held(j *Job) bool {
	return st.hold != "" && j.Priority <= PriorityScheduled
}

func (st *limits) why(j *Job) string {
	q := st.q
	if st.held(j) {
		return st.hold
	}
	if st.running >= q.limit {
		return fmt.Sprintf("waiting: %d runs already running (daemon.concurrency)", st.running)
	}
	if r := st.serials[j.Uses.Serial]; j.Uses.Serial != "" && r != nil {
		return fmt.Sprintf("waiting: %s run %d of the same drc and agency is running", r.Run.Op, r.Run.ID)
	}
	if r := st.targets[j.Run.Target]; j.Run.Target != "" && r != nil && !j.Uses.Beside {
		return fmt.Sprintf("waiting: target busy with run %d (%s)", r.Run.ID, r.Run.Op)
	}
	if repo := j.Uses.Repo; repo != "" {
		if r := st.repos[repo]; r != nil && (r.Uses.Exclusive || j.Uses.Exclusive) {
			return fmt.Sprintf("waiting: repository busy with %s (run %d)", r.Run.Op, r.Run.ID)
		}
		if r := st.reserved[repo]; r != nil && r != j {
			return fmt.Sprintf("waiting: repository reserved for %s (run %d, queued earlier)", r.Run.Op, r.Run.ID)
		}
	}
	for _, repo := range j.Uses.Shared {
		if r := st.repos[repo]; r != nil && r.Uses.Exclusive {
			return fmt.Sprintf("waiting: repository busy with %s (run %d)", r.Run.Op, r.Run.ID)
		}
		if r := st.reserved[repo]; r != nil && r != j {
			return fmt.Sprintf("waiting: repository reserved for %s (run %d, queued earlier)", r.Run.Op, r.Run.ID)
		}
	}
	if d := j.Uses.DRC; d != "" {
		if lim := q.DRCLimits[d]; lim > 0 && st.drcs[d] >= lim {
			return fmt.Sprintf("waiting: drc %q busy: %d runs already running there (its concurrency)", d, st.drcs[d])
		}
	}
	return ""
}

// UsesOf says what a run needs of the queue besides a slot: its DRC, its repository,
// and whether it needs the repository alone (restic's exclusive lock).
func UsesOf(r *catalog.Run) Uses {
	u := Uses{DRC: r.DRC}
	if r.DRC != "" && r.Agency != "" {
		u.Repo = catalog.RepoKey(r.DRC, r.Agency)
	}
	switch r.Op {
	case "forget", "prune", "check", "unlock", "restic", "repair", "recover":
		u.Exclusive = true
	case "replicate":
		u.Serial = "replicate/" + u.Repo // one pass at a time per (secondary, agency)
	}
	return u
}

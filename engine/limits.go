package engine

import "fmt"

// uses is what a job needs besides a slot of daemon.concurrency.
type uses struct {
	drc  string // the DRC it works at ("": none)
	repo string // the repository it works on, drc/agency ("": none)
	// exclusive: nothing else may use the repository meanwhile. restic takes an
	// exclusive lock for forget, prune and check; a backup running beside one of them
	// would fail on restic's lock, so the queue keeps them apart instead.
	exclusive bool
	// shared are other repositories it reads or writes beside repo, never exclusively
	// (a replicate run works at the secondary and reads the primary): exclusive runs
	// there wait for it, and it waits for them.
	shared []string
	// serial: jobs with the same serial key run one at a time; the later ones wait in
	// the queue, holding no slot (two passes of replication to the same secondary for
	// the same agency).
	serial string
}

// limits is the state of one dispatch pass: what the running jobs (and the jobs started
// earlier in the pass) hold.
type limits struct {
	q        *queue
	running  int
	targets  map[string]*job // target -> its running job
	drcs     map[string]int  // drc -> running jobs there
	repos    map[string]*job // repository -> one running job on it (the exclusive one if any)
	reserved map[string]*job // repository -> the earlier exclusive job waiting for it
	serials  map[string]*job // serial key -> its running job
	hold     string          // why scheduled jobs wait now (a maintenance window), or ""
}

func (q *queue) newLimits() *limits {
	st := &limits{q: q, targets: map[string]*job{}, drcs: map[string]int{}, repos: map[string]*job{}, reserved: map[string]*job{},
		serials: map[string]*job{}}
	for _, j := range q.running {
		st.start(j)
	}
	if q.hold != nil {
		st.hold = q.hold()
	}
	return st
}

// start counts j as running.
func (st *limits) start(j *job) {
	st.running++
	if j.run.Target != "" {
		st.targets[j.run.Target] = j
	}
	if j.uses.drc != "" {
		st.drcs[j.uses.drc]++
	}
	if r := j.uses.repo; r != "" {
		if cur := st.repos[r]; cur == nil || j.uses.exclusive {
			st.repos[r] = j
		}
	}
	for _, r := range j.uses.shared {
		if st.repos[r] == nil {
			st.repos[r] = j
		}
	}
	if k := j.uses.serial; k != "" {
		st.serials[k] = j
	}
}

// blocked says why j cannot start now, or "" if it can. It is called for the pending
// jobs in queue order: an exclusive job that must wait reserves its repository, so that
// jobs queued after it cannot keep the repository busy forever (no starvation).
func (st *limits) blocked(j *job) string {
	why := st.why(j)
	if why != "" && j.uses.exclusive && j.uses.repo != "" && !st.held(j) && st.reserved[j.uses.repo] == nil {
		st.reserved[j.uses.repo] = j
	}
	return why
}

func (st *limits) held(j *job) bool {
	return st.hold != "" && j.priority <= PriorityScheduled
}

func (st *limits) why(j *job) string {
	q := st.q
	if st.held(j) {
		return st.hold
	}
	if st.running >= q.limit {
		return fmt.Sprintf("waiting: %d runs already running (daemon.concurrency)", st.running)
	}
	if r := st.serials[j.uses.serial]; j.uses.serial != "" && r != nil {
		return fmt.Sprintf("waiting: %s run %d of the same drc and agency is running", r.run.Op, r.run.ID)
	}
	if r := st.targets[j.run.Target]; j.run.Target != "" && r != nil {
		return fmt.Sprintf("waiting: target busy with run %d (%s)", r.run.ID, r.run.Op)
	}
	if repo := j.uses.repo; repo != "" {
		if r := st.repos[repo]; r != nil && (r.uses.exclusive || j.uses.exclusive) {
			return fmt.Sprintf("waiting: repository busy with %s (run %d)", r.run.Op, r.run.ID)
		}
		if r := st.reserved[repo]; r != nil && r != j {
			return fmt.Sprintf("waiting: repository reserved for %s (run %d, queued earlier)", r.run.Op, r.run.ID)
		}
	}
	for _, repo := range j.uses.shared {
		if r := st.repos[repo]; r != nil && r.uses.exclusive {
			return fmt.Sprintf("waiting: repository busy with %s (run %d)", r.run.Op, r.run.ID)
		}
		if r := st.reserved[repo]; r != nil && r != j {
			return fmt.Sprintf("waiting: repository reserved for %s (run %d, queued earlier)", r.run.Op, r.run.ID)
		}
	}
	if d := j.uses.drc; d != "" {
		if lim := q.drcLimits[d]; lim > 0 && st.drcs[d] >= lim {
			return fmt.Sprintf("waiting: drc %q busy: %d runs already running there (its concurrency)", d, st.drcs[d])
		}
	}
	return ""
}

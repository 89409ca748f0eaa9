package engine

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/cadang/cadang/engine/catalog"
)

// Priorities: on-demand work goes before scheduled work; recovery after a crash goes
// first of all.
const (
	PriorityScheduled = 0
	PriorityOnDemand  = 10
	PriorityRecovery  = 20
)

// job is a run waiting in the queue or executing. Its run record belongs to the
// goroutine executing it; others read the copy it publishes (view). The fields set at
// submission (ID, Op, Target, Queued) never change and may be read by anyone.
type job struct {
	run      *catalog.Run
	priority int
	exec     func(ctx context.Context, j *job) error
	uses     uses   // what it needs besides a slot (see limits.go)
	key      string // scheduled work: a due slot finding a job with its key waiting joins it

	ctx    context.Context
	cancel context.CancelCauseFunc

	mu       sync.Mutex
	view     catalog.Run // the last published state of run
	progress Progress
	waiting  string // why it waits, while queued
}

// publish makes the run's current state visible to readers; only the goroutine that
// owns the run calls it.
func (j *job) publish() {
	j.mu.Lock()
	j.view = *j.run
	j.mu.Unlock()
}

func (j *job) setProgress(f func(p *Progress)) {
	j.mu.Lock()
	f(&j.progress)
	j.mu.Unlock()
}

// state returns the published run, its progress and why it waits.
func (j *job) state() (catalog.Run, Progress, string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.view, j.progress, j.waiting
}

// queue runs jobs with limits: at most `limit` at once, one at a time per target, at
// most drcLimits[d] at once at a DRC, a repository used by an exclusive job by nothing
// else (see limits.go), and scheduled jobs held while hold says so (maintenance
// windows); highest priority first, then oldest first.
//
// The pending list is kept sorted, and waiting scheduled jobs are indexed by key, so
// that a pass over ten thousand waiting jobs stays cheap.
type queue struct {
	limit     int
	drcLimits map[string]int
	hold      func() string // why scheduled jobs may not start now (a maintenance window), or ""

	mu      sync.Mutex
	pending []*job
	running map[uint64]*job
	byID    map[uint64]*job
	keyed   map[string]*job // pending jobs by key
	closed  bool
	wake    chan struct{}
	wg      sync.WaitGroup
}

func newQueue(limit int) *queue {
	return &queue{limit: max(limit, 1), running: map[uint64]*job{}, byID: map[uint64]*job{}, keyed: map[string]*job{},
		wake: make(chan struct{}, 1)}
}

// add queues a job; it fails once the queue is closed.
func (q *queue) add(j *job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return errShuttingDown
	}
	q.insert(j)
	q.byID[j.run.ID] = j
	if j.key != "" {
		q.keyed[j.key] = j
	}
	q.poke()
	return nil
}

func (q *queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// before orders the pending jobs: higher priority first, then oldest first, then by id.
func before(a, b *job) bool {
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	if !a.run.Queued.Equal(b.run.Queued) {
		return a.run.Queued.Before(b.run.Queued)
	}
	return a.run.ID < b.run.ID
}

// insert puts j at its place in the pending list, which stays sorted.
func (q *queue) insert(j *job) {
	i := sort.Search(len(q.pending), func(i int) bool { return before(j, q.pending[i]) })
	q.pending = append(q.pending, nil)
	copy(q.pending[i+1:], q.pending[i:])
	q.pending[i] = j
}

// dispatch starts every pending job that may start now; start runs one.
func (q *queue) dispatch(start func(*job)) {
	for _, j := range q.take() {
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			start(j)
			q.finish(j)
		}()
	}
}

// take marks every pending job that may start now as running and returns them, in
// order; the caller runs them and calls finish for each. Every job left waiting gets
// the reason it waits.
func (q *queue) take() []*job {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	var started []*job
	st := q.newLimits()
	kept := q.pending[:0]
	for _, j := range q.pending {
		reason := st.blocked(j)
		j.mu.Lock()
		j.waiting = reason
		j.mu.Unlock()
		if reason != "" {
			kept = append(kept, j)
			continue
		}
		st.start(j)
		q.running[j.run.ID] = j
		q.unkey(j)
		started = append(started, j)
	}
	clear(q.pending[len(kept):])
	q.pending = kept
	return started
}

func (q *queue) unkey(j *job) {
	if j.key != "" && q.keyed[j.key] == j {
		delete(q.keyed, j.key)
	}
}

// waiting returns the pending job with key, or nil.
func (q *queue) waiting(key string) *job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.keyed[key]
}

// finish records that a job taken by take ended.
func (q *queue) finish(j *job) {
	q.mu.Lock()
	delete(q.running, j.run.ID)
	delete(q.byID, j.run.ID)
	q.mu.Unlock()
	q.poke()
}

// loop dispatches until ctx ends.
func (q *queue) loop(ctx context.Context, start func(*job)) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		q.dispatch(start)
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-tick.C:
		}
	}
}

// get returns a queued or running job.
func (q *queue) get(id uint64) *job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.byID[id]
}

// remove takes a job that has not started out of the queue; it reports false if the
// job is running (or gone).
func (q *queue) remove(id uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, j := range q.pending {
		if j.run.ID == id {
			q.pending = append(q.pending[:i], q.pending[i+1:]...)
			delete(q.byID, id)
			q.unkey(j)
			return true
		}
	}
	return false
}

// close stops new jobs and returns those that never started.
func (q *queue) close() []*job {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	left := q.pending
	q.pending = nil
	for _, j := range left {
		delete(q.byID, j.run.ID)
		q.unkey(j)
	}
	return left
}

// runningJobs returns the jobs executing now.
func (q *queue) runningJobs() []*job {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*job, 0, len(q.running))
	for _, j := range q.running {
		out = append(out, j)
	}
	return out
}

// pendingJobs returns the first n waiting jobs, in the order they will start.
func (q *queue) pendingJobs(n int) []*job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]*job(nil), q.pending[:min(n, len(q.pending))]...)
}

// counts returns how many jobs wait and run.
func (q *queue) counts() (pending, running int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending), len(q.running)
}

// wait waits for executing jobs to end, up to timeout; it reports whether they did.
func (q *queue) wait(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

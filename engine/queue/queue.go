package queue

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
)

// ErrClosed is what Add answers once the queue is closed (the daemon is shutting down).
var ErrClosed = errors.New("the daemon is shutting down")

// Priorities: on-demand work goes before scheduled work; recovery after a crash goes
// first of all.
const (
	PriorityScheduled = 0
	PriorityOnDemand  = 10
	PriorityRecovery  = 20
)

// Job is a run waiting in the queue or executing. Its run record belongs to the
// goroutine executing it; others read the copy it publishes (view). The fields set at
// submission (ID, Op, Target, Queued) never change and may be read by anyone.
type Job struct {
	Run      *catalog.Run
	Priority int
	Exec     func(ctx context.Context, j *Job) error
	Uses     Uses   // what it needs besides a slot (see limits.go)
	Key      string // scheduled work: a due slot finding a job with its key waiting joins it

	// Ctx and Cancel are set when the job starts (or, for Cancel, when it is queued):
	// cancelling ends its run with the cause.
	Ctx    context.Context
	Cancel context.CancelCauseFunc

	mu       sync.Mutex
	view     catalog.Run // the last published state of run
	progress api.Progress
	waiting  string // why it waits, while queued
}

// Publish makes the run's current state visible to readers; only the goroutine that
// owns the run calls it.
func (j *Job) Publish() {
	j.mu.Lock()
	j.view = *j.Run
	j.mu.Unlock()
}

func (j *Job) SetProgress(f func(p *api.Progress)) {
	j.mu.Lock()
	f(&j.progress)
	j.mu.Unlock()
}

// State returns the published run, its progress and why it waits.
func (j *Job) State() (catalog.Run, api.Progress, string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.view, j.progress, j.waiting
}

// Queue runs jobs with limits: at most `limit` at once, one at a time per target, at
// most drcLimits[d] at once at a DRC, a repository used by an exclusive job by nothing
// else (see limits.go), and scheduled jobs held while hold says so (maintenance
// windows); highest priority first, then oldest first.
//
// The pending list is kept sorted, and waiting scheduled jobs are indexed by key, so
// that a pass over ten thousand waiting jobs stays cheap.
type Queue struct {
	limit int
	// DRCLimits caps the jobs running at once at a DRC (0 or absent: no cap beyond limit).
	DRCLimits map[string]int
	// Hold says why scheduled jobs may not start now (a maintenance window), or "".
	Hold func() string

	mu      sync.Mutex
	pending []*Job
	running map[uint64]*Job
	byID    map[uint64]*Job
	keyed   map[string]*Job // pending jobs by key
	closed  bool
	wake    chan struct{}
	wg      sync.WaitGroup
}

// New returns a queue that runs at most limit jobs at once.
func New(limit int) *Queue {
	return &Queue{limit: max(limit, 1), running: map[uint64]*Job{}, byID: map[uint64]*Job{}, keyed: map[string]*Job{},
		wake: make(chan struct{}, 1)}
}

// Add queues a job; it fails once the queue is closed.
func (q *Queue) Add(j *Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	j.mu.Lock()
	j.view = *j.Run // readers see the run as queued until its executor publishes
	j.mu.Unlock()
	q.insert(j)
	q.byID[j.Run.ID] = j
	if j.Key != "" {
		q.keyed[j.Key] = j
	}
	q.Poke()
	return nil
}

func (q *Queue) Poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// before orders the pending jobs: higher priority first, then oldest first, then by id.
func before(a, b *Job) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if !a.Run.Queued.Equal(b.Run.Queued) {
		return a.Run.Queued.Before(b.Run.Queued)
	}
	return a.Run.ID < b.Run.ID
}

// insert puts j at its place in the pending list, which stays sorted.
func (q *Queue) insert(j *Job) {
	i := sort.Search(len(q.pending), func(i int) bool { return before(j, q.pending[i]) })
	q.pending = append(q.pending, nil)
	copy(q.pending[i+1:], q.pending[i:])
	q.pending[i] = j
}

// dispatch starts every pending job that may start now; start runs one.
func (q *Queue) dispatch(start func(*Job)) {
	for _, j := range q.Take() {
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			start(j)
			q.Finish(j)
		}()
	}
}

// Take marks every pending job that may start now as running and returns them, in
// order; the caller runs them and calls finish for each. Every job left waiting gets
// the reason it waits.
func (q *Queue) Take() []*Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	var started []*Job
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
		q.running[j.Run.ID] = j
		q.unkey(j)
		started = append(started, j)
	}
	clear(q.pending[len(kept):])
	q.pending = kept
	return started
}

func (q *Queue) unkey(j *Job) {
	if j.Key != "" && q.keyed[j.Key] == j {
		delete(q.keyed, j.Key)
	}
}

// Waiting returns the pending job with key, or nil.
func (q *Queue) Waiting(key string) *Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.keyed[key]
}

// Finish records that a job taken by take ended.
func (q *Queue) Finish(j *Job) {
	q.mu.Lock()
	delete(q.running, j.Run.ID)
	delete(q.byID, j.Run.ID)
	q.mu.Unlock()
	q.Poke()
}

// Loop dispatches until ctx ends.
func (q *Queue) Loop(ctx context.Context, start func(*Job)) {
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

// Get returns a queued or running job.
func (q *Queue) Get(id uint64) *Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.byID[id]
}

// Remove takes a job that has not started out of the queue; it reports false if the
// job is running (or gone).
func (q *Queue) Remove(id uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, j := range q.pending {
		if j.Run.ID == id {
			q.pending = append(q.pending[:i], q.pending[i+1:]...)
			delete(q.byID, id)
			q.unkey(j)
			return true
		}
	}
	return false
}

// Close stops new jobs and returns those that never started.
func (q *Queue) Close() []*Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	left := q.pending
	q.pending = nil
	for _, j := range left {
		delete(q.byID, j.Run.ID)
		q.unkey(j)
	}
	return left
}

// Running returns the jobs executing now.
func (q *Queue) Running() []*Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*Job, 0, len(q.running))
	for _, j := range q.running {
		out = append(out, j)
	}
	return out
}

// Pending returns the first n waiting jobs, in the order they will start.
func (q *Queue) Pending(n int) []*Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]*Job(nil), q.pending[:min(n, len(q.pending))]...)
}

// Counts returns how many jobs wait and run.
func (q *Queue) Counts() (pending, running int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending), len(q.running)
}

// Wait waits for executing jobs to end, up to timeout; it reports whether they did.
func (q *Queue) Wait(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/cadang/cadang/engine/catalog"
)

// Priorities: on-demand work goes before scheduled work.
const (
	PriorityScheduled = 0
	PriorityOnDemand  = 10
)

// job is a run waiting in the queue or executing. Its run record belongs to the
// goroutine executing it; others read the copy it publishes (view). The fields set at
// submission (ID, Op, Target, Queued) never change and may be read by anyone.
type job struct {
	run      *catalog.Run
	priority int
	exec     func(ctx context.Context, j *job) error

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

// Progress is what a running job reports.
type Progress struct {
	Phase            string  `json:"phase,omitempty"` // before-hooks, backup, after-hooks, restore, ...
	PercentDone      float64 `json:"percent_done"`
	BytesDone        uint64  `json:"bytes_done,omitempty"`
	TotalBytes       uint64  `json:"total_bytes,omitempty"`
	FilesDone        uint64  `json:"files_done,omitempty"`
	TotalFiles       uint64  `json:"total_files,omitempty"`
	SecondsRemaining uint64  `json:"seconds_remaining,omitempty"`
	Errors           uint64  `json:"errors,omitempty"`
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

// queue runs jobs with limits: at most `limit` at once, one at a time per target,
// highest priority first, then oldest first.
type queue struct {
	limit int

	mu      sync.Mutex
	pending []*job
	running map[uint64]*job
	byID    map[uint64]*job
	closed  bool
	wake    chan struct{}
	wg      sync.WaitGroup
}

func newQueue(limit int) *queue {
	return &queue{limit: max(limit, 1), running: map[uint64]*job{}, byID: map[uint64]*job{}, wake: make(chan struct{}, 1)}
}

// add queues a job; it fails once the queue is closed.
func (q *queue) add(j *job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return errShuttingDown
	}
	q.pending = append(q.pending, j)
	q.byID[j.run.ID] = j
	q.poke()
	return nil
}

func (q *queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// blocked says why j cannot start now, or "" if it can.
func (q *queue) blocked(j *job) string {
	if len(q.running) >= q.limit {
		return fmt.Sprintf("waiting: %d runs already running (daemon.concurrency)", len(q.running))
	}
	if j.run.Target != "" {
		for _, r := range q.running {
			if r.run.Target == j.run.Target {
				return fmt.Sprintf("waiting: target busy with run %d (%s)", r.run.ID, r.run.Op)
			}
		}
	}
	return ""
}

// dispatch starts every pending job that may start now; start runs one.
func (q *queue) dispatch(start func(*job)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	sort.SliceStable(q.pending, func(a, b int) bool {
		pa, pb := q.pending[a], q.pending[b]
		if pa.priority != pb.priority {
			return pa.priority > pb.priority
		}
		return pa.run.Queued.Before(pb.run.Queued)
	})
	kept := q.pending[:0]
	for _, j := range q.pending {
		reason := q.blocked(j)
		j.mu.Lock()
		j.waiting = reason
		j.mu.Unlock()
		if reason != "" {
			kept = append(kept, j)
			continue
		}
		q.running[j.run.ID] = j
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			start(j)
			q.mu.Lock()
			delete(q.running, j.run.ID)
			delete(q.byID, j.run.ID)
			q.mu.Unlock()
			q.poke()
		}()
	}
	clear(q.pending[len(kept):])
	q.pending = kept
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

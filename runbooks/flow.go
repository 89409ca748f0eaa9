package runbooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
)

// Run statuses of a runbook run (RunFlow's result and the API's `status`).
const (
	RunRunning   = "running"
	RunWaiting   = "waiting"   // a manual gate waits for its confirmation
	RunSucceeded = "succeeded" // every step ok (or skipped by its modes)
	RunFailed    = "failed"    // ended, but a non-critical step (or an undo step) failed
	RunHalted    = "halted"    // a critical step failed: `continue` runs it again, `abort` ends the run
	RunAborted   = "aborted"   // cancelled by `abort` (test mode: undone)
)

// RetryDelay is the pause between two attempts of a step.
const RetryDelay = 5 * time.Second

// UndoGroup is the group name of the undo steps in results.
const UndoGroup = "undo"

// Flow is a runbook made runnable: its groups with the actions engine built for them.
type Flow struct {
	Name   string
	Mode   string // test or real
	Groups []FlowGroup
	// Undo runs when the flow ends (succeeded, failed or aborted; not halted, which
	// may still continue), even after a cancel: the test-mode clean-up.
	Undo []Step
	// Prior is the state an earlier execution of the same run recorded, by step key
	// (group/step): steps that ended ok or skipped are not run again, a critical step
	// that failed runs again (continue), a non-critical one stays failed.
	Prior map[string]StepResult
	// Resumed says that Prior was left by a daemon that stopped while steps ran: a
	// step recorded running runs again if it is Idempotent, otherwise it fails with
	// the reason and halts the run (a person checks what it did, then continues).
	Resumed bool
}

// FlowGroup is a group of steps, run in sequence or all at once.
type FlowGroup struct {
	Name string
	// DependsOn names the groups this one waits for; nil: the group listed before it.
	DependsOn []string
	Parallel  bool
	Steps     []Step
}

// Gate is a manual step: a prompt that a principal with Role confirms.
type Gate struct {
	Prompt Message
	Role   string
	Ticket string
}

// FlowResult is how a flow went (so far, when halted).
type FlowResult struct {
	Flow    string       `json:"flow"`
	Mode    string       `json:"mode"`
	Status  string       `json:"status"`
	Started time.Time    `json:"started"`
	Ended   time.Time    `json:"ended,omitzero"`
	Steps   []StepResult `json:"steps"`
}

// Approval is a confirmation of a manual gate.
type Approval struct {
	By     string // the principal
	Role   string // its role
	Ticket string // a ticket reference given with the confirmation (default: the gate's)
}

// Errors of Gates.Approve.
var (
	ErrNotWaiting = errors.New("the step is not a manual gate waiting for confirmation")
	ErrWrongRole  = errors.New("the principal's role may not confirm this gate")
)

// Gates are the manual gates of running flows that wait for a confirmation. One value
// serves every flow of a daemon; keys are a run's id and the step's key.
type Gates struct {
	mu      sync.Mutex
	waiting map[string]*gateWait
}

type gateWait struct {
	role string
	done chan Approval
}

// Approve confirms the gate of step (its key or its name) of run, if it waits and a
// has its role.
func (g *Gates) Approve(run, step string, a Approval) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.waiting[run+"\x00"+step]
	if w == nil {
		return ErrNotWaiting
	}
	if a.Role != w.role {
		return fmt.Errorf("%w: it needs %s, %s is %s", ErrWrongRole, w.role, a.By, a.Role)
	}
	delete(g.waiting, run+"\x00"+step)
	w.done <- a
	return nil
}

func (g *Gates) open(run string, names []string, role string) *gateWait {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.waiting == nil {
		g.waiting = map[string]*gateWait{}
	}
	w := &gateWait{role: role, done: make(chan Approval, 1)}
	for _, n := range names {
		g.waiting[run+"\x00"+n] = w
	}
	return w
}

func (g *Gates) close(run string, names []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range names {
		delete(g.waiting, run+"\x00"+n)
	}
}

// flowRun is one execution of a flow.
type flowRun struct {
	e      *Executor
	f      Flow
	id     string
	gates  *Gates
	log    *slog.Logger
	mu     sync.Mutex
	res    map[string]StepResult
	halted bool
}

// RunFlow runs f: its groups in order (or after their depends_on), each group's steps
// in sequence or in parallel, a step's failed attempts again up to its retries. A
// critical failure halts the flow: no step starts after it (steps already running
// end), and the result's status is halted; RunFlow again with the result's steps as
// Prior continues it. A cancelled ctx aborts the flow. When the flow ends (not halted)
// its Undo steps run. id names the run for gates (the caller's run id).
func (e *Executor) RunFlow(ctx context.Context, id string, f Flow, gates *Gates) FlowResult {
	r := &flowRun{e: e, f: f, id: id, gates: gates, res: map[string]StepResult{}, log: e.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.gates == nil {
		r.gates = &Gates{}
	}
	out := FlowResult{Flow: f.Name, Mode: f.Mode, Started: e.now()}
	done := map[string]chan struct{}{}
	for _, g := range f.Groups {
		done[g.Name] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i, g := range f.Groups {
		deps := g.DependsOn
		if deps == nil && i > 0 {
			deps = []string{f.Groups[i-1].Name}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[g.Name])
			for _, d := range deps {
				if ch, ok := done[d]; ok {
					<-ch
				}
			}
			r.group(ctx, g)
		}()
	}
	wg.Wait()

	switch {
	case ctx.Err() != nil:
		out.Status = RunAborted
	case r.halted:
		out.Status = RunHalted
	default:
		out.Status = RunSucceeded
		for _, sr := range r.res {
			if sr.Status == StepFailed {
				out.Status = RunFailed
			}
		}
	}
	if out.Status != RunHalted {
		for _, st := range f.Undo {
			sr := r.step(context.WithoutCancel(ctx), UndoGroup, st, true)
			if sr.Status == StepFailed && out.Status == RunSucceeded {
				out.Status = RunFailed
			}
		}
	}
	for _, g := range f.Groups {
		for _, st := range g.Steps {
			out.Steps = append(out.Steps, r.result(g.Name, st))
		}
	}
	if out.Status != RunHalted {
		for _, st := range f.Undo {
			out.Steps = append(out.Steps, r.result(UndoGroup, st))
		}
		out.Ended = e.now()
	}
	for i := range out.Steps {
		out.Steps[i].No = i + 1
	}
	return out
}

// result is the step's result, or a pending one.
func (r *flowRun) result(group string, st Step) StepResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sr, ok := r.res[Key(group, st.Key)]; ok {
		return sr
	}
	if sr, ok := r.f.Prior[Key(group, st.Key)]; ok && (sr.Status == StepOK || sr.Status == StepSkipped || sr.Status == StepFailed) {
		return sr
	}
	return r.base(group, st)
}

func (r *flowRun) base(group string, st Step) StepResult {
	sr := StepResult{Key: st.Key, Group: group, Title: st.Title, Performer: st.Performer, Timeout: st.Timeout,
		Service: st.Service, Critical: st.Critical}
	if st.Gate != nil {
		sr.Ticket = st.Gate.Ticket
	}
	return sr
}

func (r *flowRun) stopped(ctx context.Context) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.halted || ctx.Err() != nil
}

func (r *flowRun) group(ctx context.Context, g FlowGroup) {
	if !g.Parallel {
		for _, st := range g.Steps {
			if r.stopped(ctx) {
				return
			}
			r.step(ctx, g.Name, st, false)
		}
		return
	}
	if r.stopped(ctx) {
		return
	}
	var wg sync.WaitGroup
	for _, st := range g.Steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.step(ctx, g.Name, st, false)
		}()
	}
	wg.Wait()
}

// step runs one step (or keeps what Prior says of it), records and returns its result.
func (r *flowRun) step(ctx context.Context, group string, st Step, undo bool) StepResult {
	key := Key(group, st.Key)
	sr := r.base(group, st)
	if p, ok := r.f.Prior[key]; ok {
		switch {
		case p.Status == StepOK || p.Status == StepSkipped || (p.Status == StepFailed && !st.Critical):
			return r.record(key, p)
		case p.Status == StepRunning && r.f.Resumed && !st.Idempotent && st.Gate == nil:
			sr.Started, sr.Ended, sr.Attempts = p.Started, r.e.now(), p.Attempts
			sr.Status, sr.Error = StepFailed, msg.New("step.interrupted")
			r.fail(st, undo)
			return r.record(key, sr)
		}
	}
	if len(st.Modes) > 0 && !contains(st.Modes, r.f.Mode) {
		sr.Status, sr.Summary = StepSkipped, msg.New("step.not_in_mode", "mode", r.f.Mode)
		return r.record(key, sr)
	}
	sr.Started = r.e.now()
	if st.Gate != nil {
		return r.gate(ctx, key, st, sr, undo)
	}
	var err error
	for attempt := 1; ; attempt++ {
		sr.Attempts, sr.Status = attempt, StepRunning
		r.record(key, sr)
		sr.Summary, err = r.e.attempt(ctx, st)
		if err == nil || attempt > st.Retries || ctx.Err() != nil {
			break
		}
		r.log.Warn("step attempt failed", "flow", r.f.Name, "step", key, "attempt", attempt, "err", msg.Of(err).String())
		r.e.sleep(ctx, RetryDelay)
	}
	sr.Ended = r.e.now()
	if err != nil {
		sr.Status, sr.Error = StepFailed, msg.Of(err)
		r.log.Warn("step failed", "flow", r.f.Name, "step", key, "critical", st.Critical, "err", sr.Error.String())
		r.fail(st, undo)
	} else {
		sr.Status = StepOK
		r.log.Info("step done", "flow", r.f.Name, "step", key, "took", sr.Duration().Round(time.Millisecond))
	}
	return r.record(key, sr)
}

// gate waits for the confirmation of a manual step.
func (r *flowRun) gate(ctx context.Context, key string, st Step, sr StepResult, undo bool) StepResult {
	names := []string{key, st.Key}
	w := r.gates.open(r.id, names, st.Gate.Role)
	defer r.gates.close(r.id, names)
	sr.Status, sr.Attempts = StepWaiting, 1
	if p, ok := r.f.Prior[key]; ok && p.Status == StepWaiting && !p.Started.IsZero() {
		sr.Started = p.Started // a gate that waited before a restart: its time counts from then
	}
	r.record(key, sr)
	limit := st.Timeout
	if limit <= 0 {
		limit = DefaultGateTimeout
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case a := <-w.done:
		sr.Ended, sr.Status, sr.Actor = r.e.now(), StepOK, a.By
		if a.Ticket != "" {
			sr.Ticket = a.Ticket
		}
		sr.Summary = msg.New("step.gate.confirmed", "by", a.By, "role", a.Role)
	case <-timer.C:
		sr.Ended, sr.Status, sr.Error = r.e.now(), StepFailed, msg.New("step.gate.timeout", "limit", limit)
		r.fail(st, undo)
	case <-ctx.Done():
		sr.Ended, sr.Status, sr.Error = r.e.now(), StepFailed, msg.Of(ctx.Err())
	}
	return r.record(key, sr)
}

func (r *flowRun) fail(st Step, undo bool) {
	if st.Critical && !undo {
		r.mu.Lock()
		r.halted = true
		r.mu.Unlock()
	}
}

// record keeps sr as the step's state and tells OnStep (one call at a time).
func (r *flowRun) record(key string, sr StepResult) StepResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res[key] = sr
	r.e.notify(sr)
	return sr
}

func (e *Executor) sleep(ctx context.Context, d time.Duration) {
	if e.Sleep != nil {
		e.Sleep(ctx, d)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

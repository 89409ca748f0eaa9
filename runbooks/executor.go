package runbooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
)

// Message is a text of a report, rendered in the report's language (see package msg).
type Message = msg.Message

// Step results. Pending, running and waiting are the states of a runbook run's steps
// before they end (a step whose status is pending has not started).
const (
	StepOK      = "ok"
	StepFailed  = "failed"
	StepSkipped = "skipped"
	StepPending = ""
	StepRunning = "running"
	StepWaiting = "waiting" // a manual gate waits for its confirmation
)

// Action is what a step does. It returns a short summary of what it found or did
// (shown in the report), or an error that fails the step; an error made with
// msg.Fail is shown in the report's language.
type Action func(ctx context.Context) (summary Message, err error)

// Step is one numbered step of a procedure, as an SOP lists it.
type Step struct {
	Key       string        // stable identifier: "restore", "verify-manifest", "cleanup", ...
	Title     Message       // what is done
	Performer string        // who does it (the role or person responsible, as in an SOP); empty: the report's default
	Timeout   time.Duration // the step's time standard ("mutu baku"); 0: no limit
	// Always makes the step run even after an earlier step failed: cleanup of
	// scratch resources must happen whatever the outcome.
	Always bool
	Run    Action

	// The fields below are for runbooks (RunFlow); Run ignores them.

	// Retries is how many more attempts a failed step gets (after RetryDelay).
	Retries int
	// Critical: its failure halts the flow. A non-critical failure is reported and the
	// flow goes on.
	Critical bool
	// Modes are the modes the step runs in; empty: every mode. In another mode the
	// step is skipped.
	Modes []string
	// Idempotent steps may run again after a daemon restart interrupted them; a step
	// that is not (a run of a command, a notification) halts the resumed run instead,
	// so that nothing runs twice that must not.
	Idempotent bool
	// Gate makes the step a manual gate: it waits for an approval (Gates.Approve) by a
	// principal with the gate's role; Run is not called.
	Gate *Gate
	// Service is whose RTO the step counts towards.
	Service string
}

// Procedure is an ordered list of steps.
type Procedure struct {
	Name  string
	Steps []Step
}

// StepResult is how one step went.
type StepResult struct {
	No        int           `json:"no"`
	Key       string        `json:"key"`
	Title     Message       `json:"title"`
	Performer string        `json:"performer,omitempty"`
	Timeout   time.Duration `json:"timeout_ns,omitempty"`
	Status    string        `json:"status"` // ok, failed, skipped
	Started   time.Time     `json:"started,omitzero"`
	Ended     time.Time     `json:"ended,omitzero"`
	Summary   Message       `json:"summary,omitzero"`
	Error     Message       `json:"error,omitzero"`

	// Runbook steps only.
	Group    string `json:"group,omitempty"`
	Service  string `json:"service,omitempty"`
	Critical bool   `json:"critical,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	Actor    string `json:"actor,omitempty"`  // who confirmed a gate (empty: cadang)
	Ticket   string `json:"ticket,omitempty"` // the gate's ticket reference
}

// Duration is how long the step took.
func (s StepResult) Duration() time.Duration {
	if s.Started.IsZero() || s.Ended.IsZero() {
		return 0
	}
	return s.Ended.Sub(s.Started)
}

// Result is how a procedure went.
type Result struct {
	Procedure string       `json:"procedure"`
	Started   time.Time    `json:"started"`
	Ended     time.Time    `json:"ended"`
	Passed    bool         `json:"passed"`
	Steps     []StepResult `json:"steps"`
}

// FailedStep returns the first failed step, or nil.
func (r *Result) FailedStep() *StepResult {
	for i := range r.Steps {
		if r.Steps[i].Status == StepFailed {
			return &r.Steps[i]
		}
	}
	return nil
}

// Executor runs procedures step by step, timing and recording each.
type Executor struct {
	Now func() time.Time // injected clock; time.Now if nil
	// Sleep waits between the attempts of a step (RunFlow); a timer if nil.
	Sleep  func(ctx context.Context, d time.Duration)
	Logger *slog.Logger
	// OnStep, if set, is called when a step starts (Status "") and when it ends, so
	// that a caller can record progress as it happens.
	OnStep func(StepResult)
}

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Run runs p's steps in order. After a step fails, the remaining steps are skipped,
// except those marked Always. A cancelled ctx fails the running step and skips the
// rest but the Always steps, which run with a context that is not cancelled (bounded
// by their own timeout): resources are cleaned up even when a drill is cancelled.
// A step that panics fails with the panic's message instead of taking the daemon down.
func (e *Executor) Run(ctx context.Context, p Procedure) Result {
	log := e.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := Result{Procedure: p.Name, Started: e.now(), Passed: true}
	failed := false
	for i, st := range p.Steps {
		sr := StepResult{No: i + 1, Key: st.Key, Title: st.Title, Performer: st.Performer, Timeout: st.Timeout}
		if (failed || ctx.Err() != nil) && !st.Always {
			sr.Status = StepSkipped
			res.Steps = append(res.Steps, sr)
			e.notify(sr)
			continue
		}
		stepCtx := ctx
		if st.Always {
			stepCtx = context.WithoutCancel(ctx)
		}
		sr.Started = e.now()
		e.notify(sr)
		summary, err := e.attempt(stepCtx, st)
		sr.Ended = e.now()
		sr.Summary = summary
		if err != nil {
			sr.Status, sr.Error = StepFailed, msg.Of(err)
			failed, res.Passed = true, false
			log.Warn("step failed", "procedure", p.Name, "step", sr.No, "key", st.Key, "err", sr.Error.String())
		} else {
			sr.Status = StepOK
			log.Info("step done", "procedure", p.Name, "step", sr.No, "key", st.Key, "took", sr.Duration().Round(time.Millisecond))
		}
		res.Steps = append(res.Steps, sr)
		e.notify(sr)
	}
	if ctx.Err() != nil {
		res.Passed = false
	}
	res.Ended = e.now()
	return res
}

// attempt runs st's action once, bounded by its timeout; a panic and a timeout are
// errors. RunFlow and Run share it: one executor for drills and runbooks.
func (e *Executor) attempt(ctx context.Context, st Step) (Message, error) {
	var cancel context.CancelFunc = func() {}
	if st.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, st.Timeout)
	}
	defer cancel()
	summary, err := runAction(ctx, st.Run)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil && errors.Is(err, context.DeadlineExceeded) && st.Timeout > 0 {
		err = msg.Fail("step.timeout", "limit", st.Timeout, "err", err)
	}
	return summary, err
}

func runAction(ctx context.Context, a Action) (summary Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = msg.Fail("step.panic", "err", fmt.Sprint(p))
		}
	}()
	if a == nil {
		return Message{}, msg.Fail("step.no_action")
	}
	return a(ctx)
}

func (e *Executor) notify(sr StepResult) {
	if e.OnStep != nil {
		e.OnStep(sr)
	}
}

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

// Step results.
const (
	StepOK      = "ok"
	StepFailed  = "failed"
	StepSkipped = "skipped"
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
	Now    func() time.Time // injected clock; time.Now if nil
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
		var cancel context.CancelFunc = func() {}
		if st.Timeout > 0 {
			stepCtx, cancel = context.WithTimeout(stepCtx, st.Timeout)
		}
		sr.Started = e.now()
		e.notify(sr)
		summary, err := runAction(stepCtx, st.Run)
		if err == nil && stepCtx.Err() != nil {
			err = stepCtx.Err()
		}
		cancel()
		sr.Ended = e.now()
		sr.Summary = summary
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && st.Timeout > 0 {
				err = msg.Fail("step.timeout", "limit", st.Timeout, "err", err)
			}
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

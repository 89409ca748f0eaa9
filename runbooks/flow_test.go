package runbooks

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
)

// lockedClock is fakeClock safe for parallel steps.
type lockedClock struct {
	mu sync.Mutex
	c  fakeClock
}

func (l *lockedClock) now() time.Time { l.mu.Lock(); defer l.mu.Unlock(); return l.c.now() }

type recorder struct {
	mu  sync.Mutex
	ran []string
}

func (r *recorder) add(s string) { r.mu.Lock(); r.ran = append(r.ran, s); r.mu.Unlock() }
func (r *recorder) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.ran {
		if x == s {
			return true
		}
	}
	return false
}
func (r *recorder) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.ran {
		if x == s {
			n++
		}
	}
	return n
}

func okStep(rec *recorder, key string) Step {
	return Step{Key: key, Title: msg.Plain(key), Critical: true, Idempotent: true, Run: func(context.Context) (Message, error) {
		rec.add(key)
		return msg.Plain(key + " done"), nil
	}}
}

func newExecutor() (*Executor, *[]string) {
	clock := &lockedClock{c: fakeClock{t: time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)}}
	var mu sync.Mutex
	var events []string
	return &Executor{Now: clock.now, Sleep: func(context.Context, time.Duration) {}, OnStep: func(s StepResult) {
		mu.Lock()
		events = append(events, s.Group+"/"+s.Key+":"+s.Status)
		mu.Unlock()
	}}, &events
}

func statuses(res FlowResult) string {
	var out []string
	for _, s := range res.Steps {
		st := s.Status
		if st == "" {
			st = "pending"
		}
		out = append(out, s.Group+"/"+s.Key+"="+st)
	}
	return strings.Join(out, " ")
}

// Groups in order, a parallel group's steps at once, retries, a non-critical failure
// that does not stop the flow, a step skipped by its modes, undo at the end.
func TestFlowGroupsParallelRetries(t *testing.T) {
	rec := &recorder{}
	e, events := newExecutor()
	var both sync.WaitGroup
	both.Add(2)
	together := func(key string) Step {
		return Step{Key: key, Critical: true, Run: func(ctx context.Context) (Message, error) {
			both.Done()
			both.Wait() // both steps of the parallel group run at once, or this never returns
			rec.add(key)
			return Message{}, nil
		}}
	}
	var tries atomic.Int32
	flaky := Step{Key: "flaky", Critical: true, Retries: 2, Run: func(context.Context) (Message, error) {
		if tries.Add(1) < 3 {
			return Message{}, errors.New("not yet")
		}
		return msg.Plain("third time"), nil
	}}
	soft := Step{Key: "soft", Critical: false, Run: func(context.Context) (Message, error) { return Message{}, errors.New("port closed") }}
	realOnly := okStep(rec, "real-only")
	realOnly.Modes = []string{ModeReal}
	f := Flow{Name: "portal", Mode: ModeTest, Groups: []FlowGroup{
		{Name: "db", Steps: []Step{okStep(rec, "restore-db")}},
		{Name: "data", Parallel: true, Steps: []Step{together("vm"), together("files")}},
		{Name: "verify", DependsOn: []string{"data"}, Steps: []Step{flaky, soft, realOnly, okStep(rec, "last")}},
	}, Undo: []Step{okStep(rec, "drop")}}

	done := make(chan FlowResult)
	go func() { done <- e.RunFlow(context.Background(), "1", f, nil) }()
	var res FlowResult
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the parallel group's steps did not run at once")
	}
	if got := statuses(res); got != "db/restore-db=ok data/vm=ok data/files=ok verify/flaky=ok verify/soft=failed verify/real-only=skipped verify/last=ok undo/drop=ok" {
		t.Errorf("steps: %s", got)
	}
	if res.Status != RunFailed || res.Ended.IsZero() {
		t.Errorf("status %s (a non-critical failure: failed, ran to the end)", res.Status)
	}
	if s := res.Steps[3]; s.Attempts != 3 || s.Summary.String() != "third time" {
		t.Errorf("retried step: %+v", s)
	}
	if s := res.Steps[5]; s.Summary.String() != "not run in test mode" || rec.has("real-only") {
		t.Errorf("mode: %+v", s)
	}
	if res.Steps[0].No != 1 || res.Steps[7].No != 8 || res.Steps[0].Duration() != time.Second {
		t.Errorf("numbering/timing: %+v", res.Steps[0])
	}
	if !strings.Contains(strings.Join(*events, " "), "db/restore-db:running db/restore-db:ok") {
		t.Errorf("events: %v", *events)
	}
}

// A critical failure halts: nothing starts after it, undo waits; a second RunFlow with
// the first's steps as Prior (continue) runs the failed step again and finishes,
// without running again what was done.
func TestFlowHaltContinue(t *testing.T) {
	rec := &recorder{}
	e, _ := newExecutor()
	broken := true
	check := Step{Key: "check-sql", Critical: true, Run: func(context.Context) (Message, error) {
		rec.add("check-sql")
		if broken {
			return Message{}, errors.New("expected 42, got 41")
		}
		return msg.Plain("42"), nil
	}}
	f := Flow{Name: "p", Mode: ModeTest, Groups: []FlowGroup{
		{Name: "a", Steps: []Step{okStep(rec, "restore"), check, okStep(rec, "after")}},
		{Name: "b", Steps: []Step{okStep(rec, "next")}},
	}, Undo: []Step{okStep(rec, "drop")}}
	res := e.RunFlow(context.Background(), "2", f, nil)
	if res.Status != RunHalted || statuses(res) != "a/restore=ok a/check-sql=failed a/after=pending b/next=pending" || rec.has("drop") || !res.Ended.IsZero() {
		t.Fatalf("halt: %s %s, ran %v", res.Status, statuses(res), rec.ran)
	}
	broken = false
	f.Prior = map[string]StepResult{}
	for _, s := range res.Steps {
		f.Prior[Key(s.Group, s.Key)] = s
	}
	res = e.RunFlow(context.Background(), "2", f, nil)
	if res.Status != RunSucceeded || statuses(res) != "a/restore=ok a/check-sql=ok a/after=ok b/next=ok undo/drop=ok" {
		t.Errorf("continue: %s %s", res.Status, statuses(res))
	}
	if rec.count("restore") != 1 || rec.count("check-sql") != 2 {
		t.Errorf("ran %v", rec.ran)
	}
}

// A manual gate waits; a principal without its role is refused, one with it continues
// the flow and is recorded as the step's actor; a gate nobody confirms halts the run.
func TestFlowGate(t *testing.T) {
	rec := &recorder{}
	e, _ := newExecutor()
	waiting := make(chan struct{}, 1)
	e.OnStep = func(s StepResult) {
		if s.Status == StepWaiting {
			waiting <- struct{}{}
		}
	}
	gates := &Gates{}
	f := Flow{Name: "p", Mode: ModeReal, Groups: []FlowGroup{{Name: "g", Steps: []Step{
		{Key: "confirm", Critical: true, Gate: &Gate{Prompt: msg.Plain("open?"), Role: "operator", Ticket: "ELAY-1"}},
		okStep(rec, "open"),
	}}}}
	done := make(chan FlowResult)
	go func() { done <- e.RunFlow(context.Background(), "7", f, gates) }()
	<-waiting
	if err := gates.Approve("7", "open", Approval{By: "ani", Role: "operator"}); !errors.Is(err, ErrNotWaiting) {
		t.Errorf("approve a step that is no gate: %v", err)
	}
	if err := gates.Approve("7", "confirm", Approval{By: "dinkes-admin", Role: "agency-admin"}); !errors.Is(err, ErrWrongRole) {
		t.Errorf("wrong role: %v", err)
	}
	if rec.has("open") {
		t.Fatal("the flow went past a gate nobody confirmed")
	}
	if err := gates.Approve("7", "g/confirm", Approval{By: "budi", Role: "operator"}); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if s := res.Steps[0]; res.Status != RunSucceeded || s.Actor != "budi" || s.Ticket != "ELAY-1" || s.Summary.String() != "confirmed by budi (operator)" {
		t.Errorf("after approval: %s %+v", res.Status, s)
	}

	f.Groups[0].Steps[0].Timeout = 20 * time.Millisecond
	e.OnStep = nil
	res = e.RunFlow(context.Background(), "8", f, gates)
	if s := res.Steps[0]; res.Status != RunHalted || s.Status != StepFailed || !strings.HasPrefix(s.Error.String(), "nobody confirmed the gate within") {
		t.Errorf("timed out gate: %s %+v", res.Status, s)
	}
}

// After a daemon stop: a step recorded running runs again if idempotent; one that is
// not halts the run with the reason and does not run twice.
func TestFlowResume(t *testing.T) {
	rec := &recorder{}
	e, _ := newExecutor()
	cmd := okStep(rec, "cmd")
	cmd.Idempotent = false
	f := Flow{Name: "p", Mode: ModeTest, Resumed: true, Groups: []FlowGroup{
		{Name: "a", Parallel: true, Steps: []Step{okStep(rec, "done"), okStep(rec, "restore")}},
		{Name: "b", Steps: []Step{cmd, okStep(rec, "after")}},
	}}
	t0 := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	f.Prior = map[string]StepResult{
		"a/done":    {Key: "done", Group: "a", Status: StepOK, Started: t0, Ended: t0},
		"a/restore": {Key: "restore", Group: "a", Status: StepRunning, Started: t0, Attempts: 1},
	}
	res := e.RunFlow(context.Background(), "3", f, nil)
	if res.Status != RunSucceeded || rec.has("done") || rec.count("restore") != 1 {
		t.Errorf("idempotent resume: %s %s ran %v", res.Status, statuses(res), rec.ran)
	}
	rec.ran = nil
	for _, s := range res.Steps {
		f.Prior[Key(s.Group, s.Key)] = s
	}
	f.Prior["b/cmd"] = StepResult{Key: "cmd", Group: "b", Status: StepRunning, Started: t0, Attempts: 1}
	f.Prior["b/after"] = StepResult{Key: "after", Group: "b"}
	res = e.RunFlow(context.Background(), "3", f, nil)
	if res.Status != RunHalted || rec.has("cmd") || res.Steps[2].Error.Key != "step.interrupted" {
		t.Errorf("not idempotent: %s %s %+v ran %v", res.Status, statuses(res), res.Steps[2], rec.ran)
	}
}

// Abort (a cancelled context) ends the flow and still runs its undo, with a live context.
func TestFlowAbortUndoes(t *testing.T) {
	rec := &recorder{}
	e, _ := newExecutor()
	ctx, cancel := context.WithCancel(context.Background())
	var undoErr error
	f := Flow{Name: "p", Mode: ModeTest, Groups: []FlowGroup{{Name: "a", Steps: []Step{
		{Key: "restore", Critical: true, Run: func(context.Context) (Message, error) { cancel(); return Message{}, nil }},
		okStep(rec, "never"),
	}}}, Undo: []Step{{Key: "drop", Run: func(ctx context.Context) (Message, error) { undoErr = ctx.Err(); return Message{}, nil }}}}
	res := e.RunFlow(ctx, "4", f, nil)
	if res.Status != RunAborted || rec.has("never") || res.Steps[2].Status != StepOK || undoErr != nil {
		t.Errorf("abort: %s %s (undo ctx %v)", res.Status, statuses(res), undoErr)
	}
}

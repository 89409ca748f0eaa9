package runbooks

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
)

// fakeClock advances one second per reading, so step times are exact.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { c.t = c.t.Add(time.Second); return c.t }

func TestExecutor(t *testing.T) {
	var ran []string
	step := func(key string, err error, always bool) Step {
		return Step{Key: key, Title: msg.Plain("do " + key), Always: always, Run: func(ctx context.Context) (Message, error) {
			ran = append(ran, key)
			return msg.Plain(key + " done\nsecond line"), err
		}}
	}
	clock := &fakeClock{t: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)}
	var events []string
	e := &Executor{Now: clock.now, OnStep: func(s StepResult) { events = append(events, s.Key+":"+s.Status) }}

	res := e.Run(context.Background(), Procedure{Name: "drill", Steps: []Step{
		step("restore", nil, false),
		step("verify", errors.New("row count 9 != 10\nmore"), false),
		step("boot", nil, false),
		step("cleanup", nil, true),
	}})
	if strings.Join(ran, ",") != "restore,verify,cleanup" {
		t.Errorf("ran %v", ran)
	}
	if res.Passed {
		t.Error("a procedure with a failed step passed")
	}
	want := []struct{ status, summary, err string }{
		{StepOK, "restore done; second line", ""},
		{StepFailed, "verify done; second line", "row count 9 != 10; more"},
		{StepSkipped, "", ""},
		{StepOK, "cleanup done; second line", ""},
	}
	for i, w := range want {
		s := res.Steps[i]
		if s.No != i+1 || s.Status != w.status || s.Summary.String() != w.summary || s.Error.String() != w.err {
			t.Errorf("step %d = %+v, want %+v", i+1, s, w)
		}
	}
	if d := res.Steps[0].Duration(); d != time.Second {
		t.Errorf("step 1 took %s on the fake clock", d)
	}
	if fs := res.FailedStep(); fs == nil || fs.Key != "verify" {
		t.Errorf("failed step = %+v", fs)
	}
	if got := strings.Join(events, " "); got != "restore: restore:ok verify: verify:failed boot:skipped cleanup: cleanup:ok" {
		t.Errorf("events: %s", got)
	}
}

func TestExecutorTimeoutPanicAndCancel(t *testing.T) {
	e := &Executor{}
	res := e.Run(context.Background(), Procedure{Steps: []Step{
		{Key: "slow", Timeout: 50 * time.Millisecond, Run: func(ctx context.Context) (Message, error) {
			<-ctx.Done()
			return Message{}, ctx.Err()
		}},
	}})
	if s := res.Steps[0]; s.Status != StepFailed || !strings.HasPrefix(s.Error.String(), "exceeded its time limit of") || !strings.HasPrefix(s.Error.In(msg.ID), "melampaui batas waktu") {
		t.Errorf("timeout: %+v", s)
	}
	res = e.Run(context.Background(), Procedure{Steps: []Step{{Key: "bad", Run: func(context.Context) (Message, error) { panic("boom") }}}})
	if s := res.Steps[0]; s.Status != StepFailed || s.Error.String() != "the step panicked: boom" || s.Error.In(msg.ID) != "langkah terhenti karena kesalahan program: boom" {
		t.Errorf("panic: %+v", s)
	}

	// Cancelled: the running step fails, the next is skipped, cleanup still runs with
	// a live context.
	ctx, cancel := context.WithCancel(context.Background())
	var cleanupErr error
	res = e.Run(ctx, Procedure{Steps: []Step{
		{Key: "restore", Run: func(context.Context) (Message, error) { cancel(); return Message{}, nil }},
		{Key: "verify", Run: func(context.Context) (Message, error) { t.Error("verify ran after cancel"); return Message{}, nil }},
		{Key: "cleanup", Always: true, Run: func(ctx context.Context) (Message, error) { cleanupErr = ctx.Err(); return msg.Plain("removed"), nil }},
	}})
	if res.Passed || res.Steps[1].Status != StepSkipped || res.Steps[2].Status != StepOK || cleanupErr != nil {
		t.Errorf("cancel: %+v (cleanup ctx err %v)", res, cleanupErr)
	}
}

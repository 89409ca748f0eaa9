package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/notify"
	"github.com/cadang/cadang/engine/reports"
	"github.com/cadang/cadang/engine/server"
	"github.com/cadang/cadang/internal/oneline"
	"github.com/cadang/cadang/runbooks"
	"github.com/cadang/cadang/runbooks/msg"
)

// runbookState is what the daemon keeps of the runbook runs it executes: their manual
// gates and how to abort each. It lives while runs do: the run that ends last releases
// it (removes it from rbState), and the next run makes a new one.
type runbookState struct {
	gates    runbooks.Gates
	mu       sync.Mutex
	cancels  map[uint64]context.CancelFunc
	done     map[uint64]chan struct{}
	released bool // removed from rbState: a run starting registers in a new one
}

var rbState sync.Map // *Daemon -> *runbookState (kept beside the daemon, not in it: one file owns it)

// runbooks is the daemon's runbook state; with no run executing, an empty one that is
// not kept (as a state released meanwhile answers).
func (d *Daemon) runbooks() *runbookState {
	if v, ok := rbState.Load(d); ok {
		return v.(*runbookState)
	}
	return newRunbookState()
}

func newRunbookState() *runbookState {
	return &runbookState{cancels: map[uint64]context.CancelFunc{}, done: map[uint64]chan struct{}{}}
}

// register records run id's cancel and done in the live state (one a run ending
// released meanwhile is not) and answers it.
func (d *Daemon) register(id uint64, cancel context.CancelFunc, done chan struct{}) *runbookState {
	for {
		v, _ := rbState.LoadOrStore(d, newRunbookState())
		st := v.(*runbookState)
		st.mu.Lock()
		if !st.released {
			st.cancels[id], st.done[id] = cancel, done
			st.mu.Unlock()
			return st
		}
		st.mu.Unlock()
	}
}

// unregister forgets run id once it has ended; the last run releases the state.
func (d *Daemon) unregister(st *runbookState, id uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.cancels, id)
	delete(st.done, id)
	if len(st.cancels) == 0 && len(st.done) == 0 {
		st.released = true
		rbState.CompareAndDelete(d, st)
	}
}

// outputCap bounds the output of a `run` step kept for the report.
const outputCap = 4096

// Runbooks lists the configured runbooks.
func (s service) Runbooks() []api.RunbookInfo {
	cfg := s.d.conf().cfg
	out := make([]api.RunbookInfo, 0, len(cfg.Runbooks))
	for _, rb := range cfg.Runbooks {
		n := 0
		for _, g := range rb.Groups {
			n += len(g.Steps)
		}
		info := api.RunbookInfo{Name: rb.Name, Description: rb.Description, Version: rb.Version, File: rb.File, Digest: rb.Digest, Groups: len(rb.Groups), Steps: n}
		if rb.Objectives.RTO > 0 {
			info.RTO = rb.Objectives.RTO.String()
		}
		out = append(out, info)
	}
	return out
}

func (d *Daemon) runbook(name string) (*runbooks.Runbook, error) {
	rb, ok := d.conf().cfg.Runbook(name)
	if !ok {
		return nil, fmt.Errorf("%w: runbook %q%s", catalog.ErrNotFound, name, config.Suggest(name, d.runbookNames()))
	}
	return rb, nil
}

func (d *Daemon) runbookNames() []string {
	var out []string
	for _, rb := range d.conf().cfg.Runbooks {
		out = append(out, rb.Name)
	}
	return out
}

// RunbookPlan is the dry run of a runbook: every step, what it would use, nothing run.
func (s service) RunbookPlan(ctx context.Context, name, mode string) (api.RunbookPlan, error) {
	if mode == "" {
		mode = runbooks.ModeTest
	}
	if mode != runbooks.ModeTest && mode != runbooks.ModeReal {
		return api.RunbookPlan{}, fmt.Errorf("%w: mode %q: test or real", errBadRequest, mode)
	}
	rb, err := s.d.runbook(name)
	if err != nil {
		return api.RunbookPlan{}, wireErr(err)
	}
	out := api.RunbookPlan{Runbook: rb.Name, Digest: rb.Digest, Mode: mode}
	for _, g := range rb.Groups {
		for _, st := range g.Steps {
			ps := api.RunbookPlanStep{No: len(out.Steps) + 1, Group: g.Name, Step: st.Name, Kind: st.Kind(), DependsOn: g.DependsOn,
				Parallel: g.Parallel, Runs: st.RunsIn(mode), Critical: st.IsCritical(), What: describeStep(&st)}
			if r := st.Restore; r != nil {
				ps.Target, ps.To = r.Target, landingOf(*r, mode, 0).String()
				sites := s.d.restoreOrder(r.DRC)
				ps.DRC = strings.Join(sites, " then ")
				if snaps, err := s.snapshots(ctx, r.Target, ""); err != nil {
					ps.Error = oneline.Of(err.Error())
				} else if sn := pickSnapshot(snaps, r.Snapshot, sites); sn != nil {
					ps.Snapshot = sn.ShortID + " (" + sn.Time.In(s.Zone()).Format("2006-01-02 15:04 MST") + ")"
				} else {
					ps.Error = "no good snapshot to restore"
				}
				ps.ETA = s.d.restoreETA(r.Target)
			}
			out.Steps = append(out.Steps, ps)
		}
	}
	return out, nil
}

// restoreOrder is the DRCs a restore tries, in order: the one named, or every DRC, the
// primary first ("first that answers").
func (d *Daemon) restoreOrder(name string) []string {
	if name != "" && name != "any" {
		return []string{name}
	}
	var out []string
	for _, s := range d.sites {
		out = append(out, s.Name)
	}
	return out
}

// pickSnapshot is the snapshot a restore step uses: the newest good one at one of
// sites, at or before a time when want is one, or the one whose id starts with want.
func pickSnapshot(snaps []SnapshotInfo, want string, sites []string) *SnapshotInfo {
	at, isTime := time.Parse(time.RFC3339, want)
	var best *SnapshotInfo
	for i := range snaps {
		sn := &snaps[i]
		if sn.Status != "good" {
			continue
		}
		if want != "" && want != "latest" && isTime != nil && !strings.HasPrefix(sn.ID, want) {
			continue
		}
		if isTime == nil && sn.Time.After(at) {
			continue
		}
		here := len(sn.Sites) == 0
		for _, s := range sites {
			if _, ok := sn.Sites[s]; ok {
				here = true
			}
		}
		if here && (best == nil || sn.Time.After(best.Time)) {
			best = sn
		}
	}
	return best
}

// restoreETA is how long the target's last successful restore or drill took.
// Each op is looked up on its own: the target's newest runs may all be backups (a
// continuous target records a log batch every interval).
func (d *Daemon) restoreETA(target string) string {
	var last *catalog.Run
	for _, op := range []string{"restore", "drill"} {
		runs, err := d.cat.Runs(catalog.RunFilter{Target: target, Op: op, Status: catalog.Succeeded, Limit: 1})
		if err != nil {
			return ""
		}
		if len(runs) == 1 && !runs[0].Started.IsZero() && (last == nil || runs[0].ID > last.ID) {
			last = &runs[0]
		}
	}
	if last == nil {
		return "unknown (no restore or drill yet)"
	}
	return last.Ended.Sub(last.Started).Round(time.Second).String() + " (" + last.Op + " " + fmt.Sprint(last.ID) + ")"
}

func describeStep(st *runbooks.StepSpec) string {
	switch st.Kind() {
	case runbooks.KindRestore:
		r := st.Restore
		to := redactURL(r.To)
		if r.Domain != "" {
			to = "domain " + r.Domain
		}
		if r.InPlace {
			to = "in place"
		}
		return fmt.Sprintf("restore %s (%s) to %s", r.Target, orDefault(r.Snapshot, "latest"), to)
	case runbooks.KindRun:
		return strings.Join(st.Run, " ")
	case runbooks.KindCheck:
		c := st.Check
		switch {
		case c.TCP != "":
			return "tcp " + c.TCP
		case c.HTTP != nil:
			return fmt.Sprintf("http %s status %d", c.HTTP.URL, httpStatus(c.HTTP))
		case c.SQL != nil:
			return fmt.Sprintf("sql %s: %s = %q", redactURL(c.SQL.Database), c.SQL.Query, c.SQL.Expect)
		default:
			return "sha256 of " + c.File
		}
	case runbooks.KindManual:
		return fmt.Sprintf("%s (role %s)", st.Manual.Prompt, st.Manual.Role)
	case runbooks.KindNotify:
		return st.Notify
	}
	return ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func httpStatus(h *runbooks.HTTPCheck) int {
	if h.Status == 0 {
		return http.StatusOK
	}
	return h.Status
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return s
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}

// scratchDest is where a restore lands in mode: in test mode the destination's last
// element gets the suffix -test-RUN (folders) or _test_RUN (databases), so that a
// test never writes where the real failover would.
func scratchDest(to, mode string, id uint64) string {
	if mode != runbooks.ModeTest || to == "" {
		return to
	}
	run := "RUN"
	if id > 0 {
		run = fmt.Sprint(id)
	}
	if u, err := url.Parse(to); err == nil && u.Scheme != "" {
		u.Path = strings.TrimSuffix(u.Path, "/") + "_test_" + run
		return u.String()
	}
	return strings.TrimSuffix(to, "/") + "-test-" + run
}

// StartRunbook starts a runbook run in the background and answers it as started.
func (s service) StartRunbook(req api.RunbookRunRequest, by api.Actor) (api.RunbookRun, error) {
	d := s.d
	if err := d.passive(""); err != nil { // a standby runs a runbook once it has taken over
		return api.RunbookRun{}, wireErr(err)
	}
	rb, err := d.runbook(req.Runbook)
	if err != nil {
		return api.RunbookRun{}, wireErr(err)
	}
	switch req.Mode {
	case runbooks.ModeTest:
	case runbooks.ModeReal:
		if req.Confirm != rb.Name {
			return api.RunbookRun{}, fmt.Errorf("%w: a real failover needs --confirm %s (the runbook's name)", errBadRequest, rb.Name)
		}
	default:
		return api.RunbookRun{}, fmt.Errorf("%w: mode %q: test or real", errBadRequest, req.Mode)
	}
	r := catalog.RunbookRun{Runbook: rb.Name, Mode: req.Mode, Status: runbooks.RunRunning, File: rb.File, Digest: rb.Digest,
		Version: rb.Version, By: by.Name, Started: d.now(), PID: d.pid}
	if err := d.cat.AddRunbookRun(&r); err != nil {
		return api.RunbookRun{}, err
	}
	flow := d.buildFlow(rb, r.Mode, r.ID)
	r, err = d.cat.UpdateRunbookRun(r.ID, func(x *catalog.RunbookRun) error {
		x.Steps = pendingSteps(flow)
		return nil
	})
	if err != nil {
		return api.RunbookRun{}, err
	}
	d.log.Info("runbook run started", "runbook", rb.Name, "run", r.ID, "mode", r.Mode, "by", by.Name)
	d.execRunbook(r.ID, flow)
	return apiRunbookRun(r), nil
}

func pendingSteps(f runbooks.Flow) []runbooks.StepResult {
	var out []runbooks.StepResult
	add := func(group string, st runbooks.Step) {
		out = append(out, runbooks.StepResult{No: len(out) + 1, Key: st.Key, Group: group, Title: st.Title, Timeout: st.Timeout, Critical: st.Critical, Service: st.Service})
	}
	for _, g := range f.Groups {
		for _, st := range g.Steps {
			add(g.Name, st)
		}
	}
	for _, st := range f.Undo {
		add(runbooks.UndoGroup, st)
	}
	return out
}

// execRunbook runs flow for run id in the background, recording every step's state in
// the catalog as it changes.
func (d *Daemon) execRunbook(id uint64, flow runbooks.Flow) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	st := d.register(id, cancel, done)
	ex := &runbooks.Executor{Now: d.now, Logger: d.log.With("runbook_run", id), OnStep: func(sr runbooks.StepResult) {
		if _, err := d.cat.UpdateRunbookRun(id, func(r *catalog.RunbookRun) error {
			setStep(r, sr)
			r.Status = liveStatus(r.Steps)
			return nil
		}); err != nil {
			d.log.Error("catalog: cannot record a runbook step", "run", id, "err", err)
		}
	}}
	go func() {
		defer close(done)
		defer cancel()
		res := ex.RunFlow(ctx, fmt.Sprint(id), flow, &st.gates)
		if _, err := d.cat.UpdateRunbookRun(id, func(r *catalog.RunbookRun) error {
			for _, sr := range res.Steps {
				setStep(r, sr)
			}
			r.Status, r.Ended = res.Status, res.Ended
			return nil
		}); err != nil {
			d.log.Error("catalog: cannot record a runbook run's end", "run", id, "err", err)
		}
		if res.Status != runbooks.RunHalted {
			d.writeRunbookReport(id)
		}
		d.unregister(st, id)
		d.log.Info("runbook run ended", "run", id, "status", res.Status)
	}()
}

// writeRunbookReport writes the report of an ended run into report.dir and records
// where.
func (d *Daemon) writeRunbookReport(id uint64) {
	r, err := d.cat.RunbookRun(id)
	if err != nil {
		d.log.Error("catalog", "run", id, "err", err)
		return
	}
	rb, _ := d.runbook(r.Runbook)
	paths, err := d.conf().reports.WriteRunbook(r, rb)
	if err != nil {
		d.log.Error("cannot write the runbook report", "run", id, "err", err)
		return
	}
	if _, err := d.cat.UpdateRunbookRun(id, func(x *catalog.RunbookRun) error { x.Reports = paths; return nil }); err != nil {
		d.log.Error("catalog", "run", id, "err", err)
	}
	d.log.Info("runbook report written", "run", id, "files", paths)
}

// RunbookReport renders the report of a runbook run.
func (s service) RunbookReport(id uint64, format, lang string) ([]byte, error) {
	r, err := s.d.cat.RunbookRun(id)
	if err != nil {
		return nil, wireErr(err)
	}
	rb, _ := s.d.runbook(r.Runbook)
	b, err := s.d.conf().reports.Runbook(r, rb, format, lang)
	if errors.Is(err, reports.ErrBadRequest) {
		err = fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return b, wireErr(err)
}

func setStep(r *catalog.RunbookRun, sr runbooks.StepResult) {
	for i := range r.Steps {
		if r.Steps[i].Group == sr.Group && r.Steps[i].Key == sr.Key {
			sr.No = r.Steps[i].No
			r.Steps[i] = sr
			return
		}
	}
	sr.No = len(r.Steps) + 1
	r.Steps = append(r.Steps, sr)
}

func liveStatus(steps []runbooks.StepResult) string {
	for _, s := range steps {
		if s.Status == runbooks.StepWaiting {
			return runbooks.RunWaiting
		}
	}
	return runbooks.RunRunning
}

// RunbookRun answers a runbook run.
func (s service) RunbookRun(id uint64) (api.RunbookRun, error) {
	r, err := s.d.cat.RunbookRun(id)
	if err != nil {
		return api.RunbookRun{}, wireErr(err)
	}
	return apiRunbookRun(r), nil
}

// RunbookAction approves a gate, continues a halted run or aborts a run.
func (s service) RunbookAction(id uint64, action string, req api.RunbookApproveRequest, by api.Actor) (api.RunbookRun, error) {
	d := s.d
	r, err := d.cat.RunbookRun(id)
	if err != nil {
		return api.RunbookRun{}, wireErr(err)
	}
	event := catalog.RunbookEvent{Time: d.now(), By: by.Name, Role: by.Role, What: action, Step: req.Step}
	record := func(e catalog.RunbookEvent) {
		r, err = d.cat.UpdateRunbookRun(id, func(x *catalog.RunbookRun) error {
			x.Events = append(x.Events, e)
			return nil
		})
	}
	switch action {
	case "approve":
		err := d.runbooks().gates.Approve(fmt.Sprint(id), req.Step, runbooks.Approval{By: by.Name, Role: by.Role, Ticket: req.Ticket})
		if err != nil {
			event.What, event.Detail = "refuse", err.Error()
			record(event)
			if errors.Is(err, runbooks.ErrWrongRole) {
				return api.RunbookRun{}, server.Forbidden(fmt.Errorf("run %d step %s: %w", id, req.Step, err))
			}
			return api.RunbookRun{}, fmt.Errorf("%w: run %d step %q: %v", errBadRequest, id, req.Step, err)
		}
		record(event)
	case "abort":
		st := d.runbooks()
		st.mu.Lock()
		cancel, done := st.cancels[id], st.done[id]
		st.mu.Unlock()
		switch {
		case r.Status == runbooks.RunHalted:
			// A halted run has ended its work (its goroutine may still be writing its
			// end): abort runs its undo and ends it.
			d.waitRunbook(id)
			record(event)
			rb, err := d.runbook(r.Runbook)
			if err != nil {
				return api.RunbookRun{}, wireErr(err)
			}
			flow := d.buildFlow(rb, r.Mode, id)
			flow.Groups = nil
			d.execRunbook(id, flow)
			d.waitRunbook(id)
			r, err = d.cat.UpdateRunbookRun(id, func(x *catalog.RunbookRun) error { x.Status = runbooks.RunAborted; return nil })
			if err != nil {
				return api.RunbookRun{}, err
			}
		case cancel != nil:
			record(event)
			cancel()
			<-done
		default:
			return api.RunbookRun{}, fmt.Errorf("%w: run %d is %s: nothing to abort", errBadRequest, id, r.Status)
		}
	case "continue":
		d.waitRunbook(id) // a run that just halted may still be writing its end
		if r.Status != runbooks.RunHalted {
			return api.RunbookRun{}, fmt.Errorf("%w: run %d is %s: only a halted run continues", errBadRequest, id, r.Status)
		}
		rb, err := d.runbook(r.Runbook)
		if err != nil {
			return api.RunbookRun{}, wireErr(err)
		}
		if rb.Digest != r.Digest {
			event.Detail = "the runbook changed since the run started (sha256 " + short(r.Digest) + " -> " + short(rb.Digest) + ")"
		}
		record(event)
		flow := d.buildFlow(rb, r.Mode, id)
		flow.Prior = priorOf(r)
		r, err = d.cat.UpdateRunbookRun(id, func(x *catalog.RunbookRun) error { x.Status = runbooks.RunRunning; x.PID = d.pid; return nil })
		if err != nil {
			return api.RunbookRun{}, err
		}
		d.execRunbook(id, flow)
	default:
		return api.RunbookRun{}, fmt.Errorf("%w: unknown action %q", errBadRequest, action)
	}
	if err != nil {
		return api.RunbookRun{}, err
	}
	r, err = d.cat.RunbookRun(id)
	return apiRunbookRun(r), err
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func (d *Daemon) waitRunbook(id uint64) {
	st := d.runbooks()
	st.mu.Lock()
	done := st.done[id]
	st.mu.Unlock()
	if done != nil {
		<-done
	}
}

func priorOf(r catalog.RunbookRun) map[string]runbooks.StepResult {
	out := map[string]runbooks.StepResult{}
	for _, s := range r.Steps {
		out[runbooks.Key(s.Group, s.Key)] = s
	}
	return out
}

// resumeRunbooks continues the runbook runs a daemon that stopped left running or
// waiting: from the step that was running (again if it is idempotent, else the run
// halts with the reason).
func (d *Daemon) resumeRunbooks() {
	runs, err := d.cat.RunbookRuns(func(r catalog.RunbookRun) bool {
		return (r.Status == runbooks.RunRunning || r.Status == runbooks.RunWaiting) && r.PID != d.pid
	})
	if err != nil {
		d.log.Error("catalog: runbook runs", "err", err)
		return
	}
	for _, r := range runs {
		rb, err := d.runbook(r.Runbook)
		if err != nil {
			d.log.Error("cannot resume a runbook run: its runbook is no longer configured", "run", r.ID, "runbook", r.Runbook)
			_, _ = d.cat.UpdateRunbookRun(r.ID, func(x *catalog.RunbookRun) error { x.Status, x.Ended = runbooks.RunHalted, time.Time{}; return nil })
			continue
		}
		flow := d.buildFlow(rb, r.Mode, r.ID)
		flow.Prior, flow.Resumed = priorOf(r), true
		_, _ = d.cat.UpdateRunbookRun(r.ID, func(x *catalog.RunbookRun) error {
			x.PID = d.pid
			x.Events = append(x.Events, catalog.RunbookEvent{Time: d.now(), By: "cadang", What: "resume", Detail: fmt.Sprintf("the daemon (pid %d) stopped during the run", r.PID)})
			return nil
		})
		d.log.Warn("resuming a runbook run a stopped daemon left", "run", r.ID, "runbook", r.Runbook)
		d.execRunbook(r.ID, flow)
	}
}

func apiRunbookRun(r catalog.RunbookRun) api.RunbookRun {
	out := api.RunbookRun{ID: r.ID, Runbook: r.Runbook, Mode: r.Mode, Status: r.Status, File: r.File, Digest: r.Digest,
		Version: r.Version, By: r.By, Started: r.Started, Ended: r.Ended, Reports: r.Reports}
	for _, s := range r.Steps {
		st := s.Status
		if st == "" {
			st = "pending"
		}
		out.Steps = append(out.Steps, api.RunbookStep{No: s.No, Group: s.Group, Step: s.Key, Status: st, Critical: s.Critical,
			Started: s.Started, Ended: s.Ended, Attempts: s.Attempts, Actor: s.Actor, Ticket: s.Ticket,
			Title: s.Title.String(), Summary: s.Summary.String(), Error: s.Error.String()})
	}
	for _, e := range r.Events {
		out.Events = append(out.Events, api.RunbookEvent(e))
	}
	return out
}

// buildFlow turns a runbook into the executor's flow, with the engine's actions.
func (d *Daemon) buildFlow(rb *runbooks.Runbook, mode string, id uint64) runbooks.Flow {
	f := runbooks.Flow{Name: rb.Name, Mode: mode}
	dests := map[string]string{} // restore step -> where it lands in this run
	var undo []runbooks.Step
	for _, g := range rb.Groups {
		fg := runbooks.FlowGroup{Name: g.Name, DependsOn: g.DependsOn, Parallel: g.Parallel}
		if len(g.DependsOn) == 0 {
			fg.DependsOn = nil
		}
		for i := range g.Steps {
			spec := &g.Steps[i]
			st := d.step(rb, spec, mode, id, dests)
			fg.Steps = append(fg.Steps, st)
			if r := spec.Restore; r != nil && mode == runbooks.ModeTest && spec.RunsIn(mode) {
				undo = append(undo, d.undoRestore(spec.Name, r.Target, landingOf(*r, mode, id)))
			}
		}
		f.Groups = append(f.Groups, fg)
	}
	if mode == runbooks.ModeTest {
		for i := range rb.Undo {
			undo = append(undo, d.step(rb, &rb.Undo[i], mode, id, dests))
		}
		f.Undo = undo
	}
	return f
}

func (d *Daemon) step(rb *runbooks.Runbook, spec *runbooks.StepSpec, mode string, id uint64, dests map[string]string) runbooks.Step {
	st := runbooks.Step{Key: spec.Name, Title: msg.Plain(spec.Name + ": " + describeStep(spec)), Timeout: spec.Timeout, Retries: spec.Retries,
		Critical: spec.IsCritical(), Modes: spec.Modes, Service: rb.ServiceOf(spec)}
	if st.Timeout == 0 && spec.Kind() != runbooks.KindManual {
		st.Timeout = runbooks.DefaultStepTimeout
	}
	switch spec.Kind() {
	case runbooks.KindRestore:
		r := *spec.Restore
		l := landingOf(r, mode, id)
		dests[spec.Name] = l.to
		st.Idempotent = mode == runbooks.ModeTest // a scratch destination is ours: restored over again
		st.Run = func(ctx context.Context) (runbooks.Message, error) { return d.restoreStep(ctx, r, l, mode) }
	case runbooks.KindRun:
		argv := spec.Run
		st.Run = func(ctx context.Context) (runbooks.Message, error) { return runArgv(ctx, argv) }
	case runbooks.KindCheck:
		c := *spec.Check
		st.Idempotent = true
		st.Run = func(ctx context.Context) (runbooks.Message, error) { return check(ctx, c, dests) }
	case runbooks.KindManual:
		m := spec.Manual
		st.Gate = &runbooks.Gate{Prompt: msg.Plain(m.Prompt), Role: m.Role, Ticket: m.Ticket}
		if st.Timeout == 0 {
			st.Timeout = m.Timeout
		}
	case runbooks.KindNotify:
		text := spec.Notify
		st.Idempotent = true // a message twice is better than none
		step := spec.Name
		st.Run = func(context.Context) (runbooks.Message, error) {
			d.log.Info("runbook notice", "runbook", rb.Name, "run", id, "step", step, "message", text)
			// To every notification channel whose route takes runbook.notice (not
			// agency-bound: a failover concerns the data center); delivery is in the
			// background, with the channels' retries, and never holds the runbook.
			d.notifier.Once(notify.Event{Kind: notify.RunbookNotice, Subject: fmt.Sprintf("runbook-run/%d/%s", id, step),
				Time: d.now(), Title: fmt.Sprintf("Runbook %s (%s, run %d): %s", rb.Name, mode, id, step), Text: text})
			return msg.Plain("sent to the notification channels and the log: " + text), nil
		}
	}
	return st
}

// landing is where a restore step lands in a run: the destination of the restore
// (a folder, or a database URL) and the kind's restore options: for a libvirt domain,
// the folder of its disks and define (the domain's name), uri (the hypervisor) and
// start, the same options as `cadang restore --define NAME`.
type landing struct {
	to     string
	domain string
	opts   map[string]string
}

// landingOf is where restore r lands in mode. In test mode the destination's last
// element (and a domain's name) gets a scratch suffix (see scratchDest). A domain's
// disks go to r.To, or by default to a folder named after the domain in
// runbooks.DomainDiskDir, where QEMU reaches them.
func landingOf(r runbooks.RestoreSpec, mode string, id uint64) landing {
	if r.Domain == "" {
		return landing{to: scratchDest(r.To, mode, id)}
	}
	to := r.To
	if to == "" {
		to = filepath.Join(runbooks.DomainDiskDir, r.Domain)
	}
	l := landing{to: scratchDest(to, mode, id), domain: scratchDest(r.Domain, mode, id)}
	l.opts = map[string]string{"define": l.domain}
	if r.Hypervisor != "" {
		l.opts["uri"] = r.Hypervisor
	}
	if r.Start {
		l.opts["start"] = "true"
	}
	return l
}

// String is the landing as a plan or a report shows it.
func (l landing) String() string {
	if l.domain == "" {
		return redactURL(l.to)
	}
	s := "domain " + l.domain
	if u := l.opts["uri"]; u != "" {
		s += " at " + u
	}
	if l.opts["start"] == "true" {
		s += " (started)"
	}
	return s + ", disks in " + l.to
}

// restoredRemover is implemented by target kinds whose restore can define something
// beside the files it writes (libvirt: a domain, with the options define and uri): the
// undo of a test-mode restore removes it. Removing what is not there is no error.
type restoredRemover interface {
	RemoveRestored(ctx context.Context, opts map[string]string) error
}

// removeRestored removes what a restore with opts defined, through target's kind.
func (d *Daemon) removeRestored(ctx context.Context, target string, opts map[string]string) error {
	t, ok := d.conf().targets[target]
	if !ok {
		return d.unknownTarget(target)
	}
	rr, ok := t.Impl.(restoredRemover)
	if !ok {
		return fmt.Errorf("target %q: a %s target cannot remove a domain it restored", target, t.Cfg.Kind)
	}
	return rr.RemoveRestored(ctx, opts)
}

// restoreStep restores through the daemon's own restore runs (leases, redaction, the
// run recorded), from the DRCs in order until one serves. A libvirt domain is defined
// (and started) through the same restore as `cadang restore --define`.
func (d *Daemon) restoreStep(ctx context.Context, r runbooks.RestoreSpec, l landing, mode string) (runbooks.Message, error) {
	if r.InPlace {
		kind := "?"
		if t, ok := d.conf().targets[r.Target]; ok {
			kind = t.Cfg.Kind
		}
		// cadang restore writes only to a new destination, for every kind: there is
		// no in-place path to go through.
		return runbooks.Message{}, fmt.Errorf("target %s: a %s target cannot be restored in place (cadang restore writes only to a new destination): restore to a new destination (to: or domain:) and switch over with a run or manual step", r.Target, kind)
	}
	if l.domain != "" && mode == runbooks.ModeTest {
		// The scratch domain is this run's own: one left by an attempt before a
		// restart is removed, so that the step can run again.
		if err := d.removeRestored(ctx, r.Target, l.opts); err != nil {
			return runbooks.Message{}, err
		}
	}
	dest := l.to
	sites := d.restoreOrder(r.DRC)
	var tried []string
	for _, site := range sites {
		snap := orDefault(r.Snapshot, "latest")
		if _, err := time.Parse(time.RFC3339, snap); err == nil {
			snaps, err := service{d}.snapshots(ctx, r.Target, "")
			if err != nil {
				return runbooks.Message{}, err
			}
			sn := pickSnapshot(snaps, snap, []string{site})
			if sn == nil {
				tried = append(tried, site+": no good snapshot at or before "+snap)
				continue
			}
			snap = sn.ID
		}
		run, err := d.restore(RestoreRequest{Target: r.Target, Snapshot: snap, DRC: site, To: dest, Force: mode == runbooks.ModeTest, Options: l.opts}, "runbook")
		if err != nil {
			tried = append(tried, site+": "+oneline.Of(err.Error()))
			continue
		}
		end, err := d.waitCatalogRun(ctx, run.ID)
		if err != nil {
			return runbooks.Message{}, err
		}
		if end.Status != catalog.Succeeded {
			tried = append(tried, fmt.Sprintf("%s: run %d %s: %s", site, run.ID, end.Status, end.Error))
			continue
		}
		before, taken := "", ""
		if len(tried) > 0 {
			before = "; before: " + strings.Join(tried, "; ")
		}
		if sn, err := d.cat.Snapshot(end.SnapshotID); err == nil {
			taken = sn.Time.UTC().Format(time.RFC3339)
		}
		return msg.New("runbook.restore.done", "target", r.Target, "snapshot", short(end.SnapshotID), "drc", site,
			"to", l.String(), "run", run.ID, "before", before, "snapshot_id", end.SnapshotID, "taken", taken), nil
	}
	return runbooks.Message{}, fmt.Errorf("no DRC served the restore: %s", strings.Join(tried, "; "))
}

// waitCatalogRun waits for run id to end.
func (d *Daemon) waitCatalogRun(ctx context.Context, id uint64) (catalog.Run, error) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		r, err := d.cat.Run(id)
		if err != nil {
			return catalog.Run{}, err
		}
		if r.Status.Done() {
			return *r, nil
		}
		select {
		case <-ctx.Done():
			_ = d.cancel(id)
			return *r, ctx.Err()
		case <-t.C:
		}
	}
}

// undoRestore removes what a test-mode restore created: the scratch folder or the
// scratch database; a scratch domain and the folder of its disks. Removing what is not
// there is no error (an undo runs again after a restart).
func (d *Daemon) undoRestore(step, target string, l landing) runbooks.Step {
	dest := l.to
	return runbooks.Step{Key: "remove-" + step, Title: msg.Plain("remove-" + step + ": remove " + l.String()), Timeout: 10 * time.Minute, Idempotent: true,
		Run: func(ctx context.Context) (runbooks.Message, error) {
			if l.domain != "" {
				if !strings.Contains(l.domain, "-test-") || !strings.Contains(dest, "-test-") {
					return runbooks.Message{}, fmt.Errorf("refusing to remove domain %s and %s: not a scratch domain", l.domain, dest)
				}
				if err := d.removeRestored(ctx, target, l.opts); err != nil {
					return runbooks.Message{}, err
				}
				if err := os.RemoveAll(dest); err != nil {
					return runbooks.Message{}, err
				}
				return msg.Plain("removed domain " + l.domain + " and its disks in " + dest), nil
			}
			u, err := url.Parse(dest)
			if err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
				db := strings.Trim(u.Path, "/")
				if !strings.Contains(db, "_test_") {
					return runbooks.Message{}, fmt.Errorf("refusing to drop %q: not a scratch database", db)
				}
				u.Path = "/postgres"
				if _, err := psql(ctx, u.String(), `DROP DATABASE IF EXISTS "`+strings.ReplaceAll(db, `"`, `""`)+`" WITH (FORCE)`); err != nil {
					return runbooks.Message{}, err
				}
				return msg.Plain("dropped database " + db), nil
			}
			if !strings.Contains(dest, "-test-") {
				return runbooks.Message{}, fmt.Errorf("refusing to remove %s: not a scratch folder", dest)
			}
			if err := os.RemoveAll(dest); err != nil {
				return runbooks.Message{}, err
			}
			return msg.Plain("removed " + dest), nil
		}}
}

// runArgv runs a `run` step: no shell; its output, capped, is the summary.
func runArgv(ctx context.Context, argv []string) (runbooks.Message, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out capped
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if err != nil {
		return msg.Plain(text), fmt.Errorf("%s: %v: %s", argv[0], err, lastLine(text))
	}
	if text == "" {
		text = "exit 0"
	}
	return msg.Plain(text), nil
}

type capped struct{ bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := outputCap - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// check runs a readiness check.
func check(ctx context.Context, c runbooks.CheckSpec, dests map[string]string) (runbooks.Message, error) {
	switch {
	case c.TCP != "":
		var dl net.Dialer
		conn, err := dl.DialContext(ctx, "tcp", c.TCP)
		if err != nil {
			return runbooks.Message{}, err
		}
		_ = conn.Close()
		return msg.Plain(c.TCP + " accepts connections"), nil
	case c.HTTP != nil:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.HTTP.URL, nil)
		if err != nil {
			return runbooks.Message{}, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return runbooks.Message{}, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != httpStatus(c.HTTP) {
			return runbooks.Message{}, fmt.Errorf("%s answered %d, want %d", c.HTTP.URL, resp.StatusCode, httpStatus(c.HTTP))
		}
		if c.HTTP.Body != "" && !strings.Contains(string(body), c.HTTP.Body) {
			return runbooks.Message{}, fmt.Errorf("%s: the body does not contain %q", c.HTTP.URL, c.HTTP.Body)
		}
		return msg.Plain(fmt.Sprintf("%s answered %d", c.HTTP.URL, resp.StatusCode)), nil
	case c.SQL != nil:
		db := c.SQL.Database
		if ref, ok := strings.CutPrefix(db, "restore:"); ok {
			db = dests[ref]
		}
		got, err := psql(ctx, db, c.SQL.Query)
		if err != nil {
			return runbooks.Message{}, err
		}
		if got != c.SQL.Expect {
			return runbooks.Message{}, fmt.Errorf("%s returned %q, want %q", c.SQL.Query, got, c.SQL.Expect)
		}
		return msg.Plain(fmt.Sprintf("%s = %q", c.SQL.Query, got)), nil
	default:
		f, err := os.Open(c.File)
		if err != nil {
			return runbooks.Message{}, err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return runbooks.Message{}, err
		}
		if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, c.SHA256) {
			return runbooks.Message{}, fmt.Errorf("%s: sha256 %s, want %s", c.File, got, c.SHA256)
		}
		return msg.Plain(c.File + ": sha256 as expected"), nil
	}
}

// psql runs one query with psql against a postgres:// URL and returns the first
// column of the first row. A ?password_file= of the URL is read into the environment,
// never into argv.
func psql(ctx context.Context, dbURL, query string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", fmt.Errorf("database URL: %v", err)
	}
	env := os.Environ()
	q := u.Query()
	if pf := q.Get("password_file"); pf != "" {
		b, err := os.ReadFile(pf)
		if err != nil {
			return "", fmt.Errorf("password_file: %v", err)
		}
		env = append(env, "PGPASSWORD="+strings.TrimSpace(string(b)))
		q.Del("password_file")
		u.RawQuery = q.Encode()
	}
	cmd := exec.CommandContext(ctx, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", u.String(), "-c", query)
	cmd.Env = env
	var out, stderr capped
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql on %s: %v: %s", redactURL(u.String()), err, oneline.Of(stderr.String()))
	}
	first, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	first, _, _ = strings.Cut(first, "|")
	return first, nil
}

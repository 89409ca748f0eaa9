package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/mirror"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/internal/oneline"
	"github.com/cadang/cadang/runbooks"
	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/mysql"
	"github.com/cadang/cadang/targets/postgres"
)

// A drill proves that a target restores from a DRC. It is a run (op "drill", one per
// target and DRC) whose steps are:
//
//  1. snapshot: the newest good snapshot of the target at that DRC (its age is the RPO
//     achieved);
//  2. packs: every pack file that snapshot needs, read back from that DRC and checked
//     against its SHA-256 name (restic's check cannot be limited to one snapshot's
//     packs; this reads exactly them, without a lock);
//  3. the kind's own steps (targets.Driller): restore into scratch resources cadang
//     creates, verify against what the backup recorded, remove everything.
//
// The RTO measured runs from the drill's start to the end of its last verification.
// The run's manifest holds the result (runbooks.TargetResult); the drill writes its
// report (JSON, HTML, PDF) into report.dir. A failed step is a finding in the report
// and fails the run; clean-up steps run whatever happened.

// drillStep is one step of a drill; its title is a message, rendered in the
// report's language.
type drillStep struct {
	key     string
	title   msg.Message
	verify  bool
	always  bool
	timeout time.Duration
	run     runbooks.Action
}

func (x *Runner) Drill(ctx context.Context, j *queue.Job, t *Target, site *drc.Site) error {
	r := j.Run
	set := x.cfg.DrillOf(t.Cfg)
	lang := x.cfg.Report.Language
	if lang == "" {
		lang = runbooks.LangID
	}
	res := &runbooks.TargetResult{Run: r.ID, Target: t.Cfg.Name, Agency: t.Cfg.Agency, AgencyName: x.AgencyName(t.Cfg.Agency),
		Kind: t.Cfg.Kind, DRC: site.Name, RPOObjective: runbooks.Duration(t.Cfg.RPO), RTOObjective: runbooks.Duration(t.Cfg.RTO)}
	var mu sync.Mutex
	var restored atomic.Int64
	env := &targets.DrillEnv{
		Name:            fmt.Sprintf("cadang_drill_%d", r.ID),
		Checks:          set.Checks,
		BootSeconds:     set.BootSeconds,
		Server:          set.Server,
		AllowProduction: set.AllowProduction,
		Log:             x.log.With("run", r.ID, "target", t.Cfg.Name, "drc", site.Name),
		Check: func(c targets.DrillCheck) {
			mu.Lock()
			res.Checks = append(res.Checks, runbooks.Check{Name: c.Checked(), Passed: c.Passed, Detail: c.Result()})
			mu.Unlock()
		},
		Restored: func(n int64) { restored.Add(n) },
	}
	scratch := filepath.Join(x.cfg.StateDir, "scratch", fmt.Sprintf("drill-%d", r.ID))
	env.Scratch = scratch

	repo := site.Repo(r.Agency)
	var rd *reader
	steps := []drillStep{
		{key: "snapshot", title: msg.New("drill.snapshot.title"),
			run: func(ctx context.Context) (msg.Message, error) {
				if err := site.Check(ctx); err != nil {
					return msg.Message{}, err
				}
				// A continuous target is drilled from its newest base (a base backup, a
				// dump), to a point in time after it (targets/postgres pitrdrill.go,
				// targets/mysql pitrdrill.go); its RPO is then the age of the newest log
				// batch archived at the DRC.
				var snap drc.Snapshot
				var err error
				newest := time.Time{}
				k, iv, continuous := continuousLog(t)
				if continuous {
					var batches []drc.Snapshot
					if snap, batches, err = x.baseAndLog(ctx, repo, t.Cfg.Name, time.Time{}, k); err != nil {
						return msg.Message{}, err
					}
					newest = snap.Time
					for _, s := range batches {
						if s.Time.After(newest) {
							newest = s.Time
						}
					}
					env.WAL = &drillWAL{x: x, j: j, repo: repo, target: t.Cfg.Name, kind: k, base: snap, interval: iv, rd: func() *reader { return rd }}
				} else if snap, _, err = x.ResolveSnapshot(ctx, repo, t.Cfg.Name, "latest"); err != nil {
					return msg.Message{}, err
				}
				r.SnapshotID, res.Snapshot, res.SnapshotTime = snap.ID, snap.ID, snap.Time
				if !newest.IsZero() {
					res.SnapshotTime = newest
				}
				rec, recErr := x.cat.Snapshot(snap.ID)
				if recErr == nil && rec.RunID != 0 {
					if br, err := x.cat.Run(rec.RunID); err == nil {
						env.Manifest = br.Manifest
					}
				}
				// At an immutable secondary, the report says until when at least the
				// copy drilled cannot be changed (the lock set when it was copied).
				var locked string
				if im := site.Immutability; im != nil && site.Role != drc.RolePrimary && recErr == nil {
					if at, ok := rec.Sites[site.Name]; ok {
						locked = at.Add(im.Retain + site.Replication.Effective().DeleteAfter).In(x.loc).Format("2006-01-02 15:04 MST")
					}
				}
				rd = &reader{repo: repo, snap: snap, j: j, log: env.Log,
					stalled: func(err error) { x.readFailed(err, r.Agency, "drill", r.ID) }}
				if err := os.MkdirAll(scratch, 0o700); err != nil {
					return msg.Message{}, err
				}
				if locked != "" {
					return msg.New("drill.snapshot.done_immutable", "id", snap.ShortID, "age", x.now().Sub(snap.Time).Round(time.Second),
						"drc", site.Name, "until", locked, "mode", site.Immutability.Mode), nil
				}
				if continuous {
					return msg.New(k.chosen, "id", snap.ShortID, "age", x.now().Sub(snap.Time).Round(time.Second),
						"walage", x.now().Sub(newest).Round(time.Second)), nil
				}
				return msg.New("drill.snapshot.done", "id", snap.ShortID, "age", x.now().Sub(snap.Time).Round(time.Second)), nil
			}},
		{key: "packs", title: msg.New("drill.packs.title"), verify: true,
			run: func(ctx context.Context) (msg.Message, error) {
				// A Contents of its own, not replication's cache: every index and tree
				// is read (and checked) from this DRC.
				packs, err := mirror.NewContents(r.Agency).SnapshotPacks(ctx, repo, r.SnapshotID)
				if err != nil {
					return msg.Message{}, err
				}
				names := make([]string, 0, len(packs))
				for n := range packs {
					names = append(names, n)
				}
				sort.Strings(names)
				var read atomic.Int64
				// A pack the store stops sending fails the step after the stall
				// timeout, recorded as damage found by a stall (drc.StallError).
				err = mirror.VerifyObjects(ctx, repo.Watched("drill"), names, 4, &read)
				what := msg.New("drill.packs.check", "drc", site.Name)
				if err != nil {
					if obj, ok := damagedObject(err); ok {
						x.recordDamage(site.Name, r.Agency, obj, "drill", r.ID, err.Error())
					}
					x.recordStall(err, r.Agency, r.ID)
					env.Check(targets.DrillCheck{What: what, Passed: false, Found: msg.Plain(err.Error())})
					return msg.Message{}, fmt.Errorf("drc %q: %w", site.Name, err)
				}
				found := msg.New("drill.packs.ok", "packs", len(names), "bytes", read.Load())
				env.Check(targets.DrillCheck{What: what, Passed: true, Found: found})
				return found, nil
			}},
	}
	if dr, ok := t.Impl.(targets.Driller); ok {
		lazy := &lazyReader{log: env.Log, get: func() targets.Reader {
			if rd == nil {
				return nil // a nil *reader must not become a non-nil interface
			}
			return rd
		}}
		for _, ks := range dr.DrillSteps(lazy, env) {
			steps = append(steps, drillStep{key: ks.Key, title: ks.Heading(), verify: ks.Verify, always: ks.Always,
				timeout: ks.Timeout, run: ks.Exec})
		}
	} else {
		steps = append(steps, drillStep{key: "restore", title: msg.New("drill.restore.title"), run: func(context.Context) (msg.Message, error) {
			return msg.Message{}, msg.Fail("drill.no_drill", "kind", t.Cfg.Kind)
		}})
	}
	steps = withScratchRemoval(steps, scratch)

	proc := runbooks.Procedure{Name: "drill " + t.Cfg.Name + " @ " + site.Name}
	verifyKeys := map[string]bool{}
	for _, s := range steps {
		timeout := s.timeout
		if timeout == 0 {
			timeout = set.Timeout
		}
		proc.Steps = append(proc.Steps, runbooks.Step{Key: s.key, Title: s.title, Performer: x.cfg.Report.PerformerOf(s.key),
			Timeout: timeout, Always: s.always, Run: s.run})
		if s.verify {
			verifyKeys[s.key] = true
		}
	}
	ex := &runbooks.Executor{Now: x.now, Logger: env.Log, OnStep: func(sr runbooks.StepResult) {
		if sr.Status == "" {
			j.SetProgress(func(p *api.Progress) { p.Phase = fmt.Sprintf("step %d/%d: %s", sr.No, len(proc.Steps), sr.Key) })
		}
	}}
	out := ex.Run(ctx, proc)

	res.Started, res.Ended, res.Steps, res.Passed = out.Started, out.Ended, out.Steps, out.Passed
	res.RPOAchieved = runbooks.Duration(0)
	if !res.SnapshotTime.IsZero() {
		res.RPOAchieved = runbooks.Duration(out.Started.Sub(res.SnapshotTime))
	}
	verified := out.Ended
	var restoreTook time.Duration
	for _, s := range out.Steps {
		if verifyKeys[s.Key] && s.Status == runbooks.StepOK {
			verified = s.Ended
		}
		if s.Key == "restore" {
			restoreTook = s.Duration()
		}
	}
	res.RTOMeasured = runbooks.Duration(verified.Sub(out.Started))
	res.BytesRestored = uint64(max(restored.Load(), 0))
	if restoreTook > 0 {
		res.Throughput = float64(res.BytesRestored) / restoreTook.Seconds()
	}
	r.BytesProcessed = res.BytesRestored
	if !res.RPOMet() {
		r.Notes = append(r.Notes, fmt.Sprintf("RPO objective missed: snapshot %s old, objective %s",
			time.Duration(res.RPOAchieved).Round(time.Second), t.Cfg.RPO))
	}
	if res.Passed && !res.RTOMet() {
		r.Notes = append(r.Notes, fmt.Sprintf("RTO objective missed: %s measured, objective %s",
			time.Duration(res.RTOMeasured).Round(time.Second), t.Cfg.RTO))
	}
	// A drill that restored and verified but missed an objective did not pass either.
	res.Passed = res.Passed && res.RPOMet() && res.RTOMet()
	if raw, err := json.Marshal(res); err == nil {
		r.Manifest = raw
	}
	if paths, err := x.reports.WriteDrill(r, res, lang); err != nil {
		x.log.Error("cannot write the drill report", "run", r.ID, "err", err)
		r.Notes = append(r.Notes, "report not written: "+oneline.Of(err.Error()))
	} else {
		r.Notes = append(r.Notes, "report: "+strings.Join(paths, ", "))
	}
	if fs := out.FailedStep(); fs != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("drill failed at step %d (%s): %s", fs.No, fs.Key, fs.Error.String())
	}
	if !res.RPOMet() || !res.RTOMet() {
		return errors.New(r.Notes[0])
	}
	return nil
}

// continuousLog is the log a continuous target archives, and its archive interval.
func continuousLog(t *Target) (logKind, time.Duration, bool) {
	if iv, ok := postgres.IsContinuous(t.Cfg.Spec); ok {
		return walLog, iv, true
	}
	if iv, ok := mysql.IsContinuous(t.Cfg.Spec); ok {
		return binlogLog, iv, true
	}
	return logKind{}, 0, false
}

// withScratchRemoval makes the drill's last clean-up step also remove its scratch
// folder, so that a report lists one clean-up step, not the kind's and the engine's;
// a drill whose kind has no clean-up step gets one that removes the folder.
func withScratchRemoval(steps []drillStep, scratch string) []drillStep {
	for i := len(steps) - 1; i >= 0; i-- {
		if !steps[i].always {
			continue
		}
		own := steps[i].run
		steps[i].run = func(ctx context.Context) (msg.Message, error) {
			summary, err := own(ctx)
			if rmErr := os.RemoveAll(scratch); rmErr != nil && err == nil {
				err = rmErr
			}
			return summary, err
		}
		return steps
	}
	return append(steps, drillStep{key: "cleanup", title: msg.New("drill.scratch.title"), always: true,
		run: func(context.Context) (msg.Message, error) {
			if err := os.RemoveAll(scratch); err != nil {
				return msg.Message{}, err
			}
			return msg.New("drill.scratch.done"), nil
		}})
}

// lazyReader is the Reader a kind's drill steps get before the snapshot step has
// chosen the snapshot: it reads the chosen one. (The executor skips the kind's steps
// when the snapshot step failed; if one ran anyway, it gets an error, not a panic.)
type lazyReader struct {
	get func() targets.Reader
	log *slog.Logger
}

var errNoSnapshot = errors.New("drill: no snapshot was chosen")

func (l *lazyReader) Snapshot() targets.Snapshot {
	if rd := l.get(); rd != nil {
		return rd.Snapshot()
	}
	return targets.Snapshot{}
}

func (l *lazyReader) RestoreTo(ctx context.Context, dir string, include []string) error {
	if rd := l.get(); rd != nil {
		return rd.RestoreTo(ctx, dir, include)
	}
	return errNoSnapshot
}

func (l *lazyReader) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	if rd := l.get(); rd != nil {
		return rd.Open(ctx, path)
	}
	return nil, errNoSnapshot
}

func (l *lazyReader) Logger() *slog.Logger { return l.log }

func (l *lazyReader) List(ctx context.Context) ([]targets.Entry, error) {
	if ls, ok := l.get().(targets.Lister); ok {
		return ls.List(ctx)
	}
	return nil, errNoSnapshot
}

// AgencyName is the agency's name from the config, or its id.
func (x *Runner) AgencyName(id string) string {
	for _, a := range x.cfg.Agencies {
		if a.ID == id && a.Name != "" {
			return a.Name
		}
	}
	return id
}

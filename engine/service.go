package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/server"
)

// service is the daemon as the API serves it (server.Service): each method answers one
// route in the wire types, and says with its error which status answers it.
type service struct{ d *Daemon }

var _ server.Service = service{}

// handler is the daemon's API.
func (d *Daemon) handler() http.Handler { return server.New(service{d}) }

// wireErr marks the daemon's errors with the status that answers them.
func wireErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errUnknownTarget), errors.Is(err, catalog.ErrNotFound):
		return server.NotFound(err)
	case errors.Is(err, errShuttingDown):
		return server.Unavailable(err)
	case errors.Is(err, errPassive):
		return server.Conflict(err)
	}
	return err
}

// runInfo returns a run with its live state: from its job while it is queued or
// running (the catalog then holds an older state), else r as the catalog has it.
func (v service) runInfo(r catalog.Run) RunInfo {
	j := v.d.queue.Get(r.ID)
	if j == nil {
		return RunInfo{Run: apiRun(r)}
	}
	view, p, waiting := j.State()
	ri := RunInfo{Run: apiRun(view), Waiting: waiting}
	if view.Status == catalog.Running {
		ri.Progress = &p
	}
	return ri
}

func (s service) runInfos(runs []catalog.Run, err error) ([]RunInfo, error) {
	if err != nil {
		return nil, wireErr(err)
	}
	out := make([]RunInfo, len(runs))
	for i, run := range runs {
		out[i] = s.runInfo(run)
	}
	return out, nil
}

func (s service) one(run catalog.Run, err error) (RunInfo, error) {
	if err != nil {
		return RunInfo{}, wireErr(err)
	}
	return s.runInfo(run), nil
}

func (s service) Config() (file, digest string) {
	cfg := s.d.conf().cfg
	return cfg.File, cfg.Digest
}

func (s service) Reload() (api.ReloadAnswer, error) {
	out, err := s.d.Reload()
	return out, wireErr(err)
}

func (s service) Zone() *time.Location { return s.d.conf().sched.Loc() }

func (s service) Status() (Status, error) {
	d := s.d
	cf := d.conf()
	st := Status{Version: Version, PID: d.pid, Started: d.started, StateDir: cf.cfg.StateDir, Config: cf.cfg.File,
		Restic: d.restic.Binary, Targets: len(cf.targets), Running: []RunInfo{}}
	st.Queued, _ = d.queue.Counts()
	for _, j := range d.queue.Running() {
		st.Running = append(st.Running, s.runInfo(catalog.Run{ID: j.Run.ID}))
	}
	for _, site := range d.sites {
		st.DRCs = append(st.DRCs, DRCInfo{Name: site.Name, Role: site.Role, Kind: site.Kind(), Location: site.Location()})
	}
	if err := s.fillStatus(&st); err != nil {
		return Status{}, wireErr(err)
	}
	site := d.siteStatus()
	st.Site = &site
	if site.Role == roleReadOnly {
		st.Problems = append([]string{fmt.Sprintf("this cadang (site %q) is %s: %s", site.Name, site.Role, site.Why)}, st.Problems...)
	}
	return st, nil
}

func (s service) Targets() []TargetInfo {
	cf := s.d.conf()
	out := []TargetInfo{}
	for _, t := range cf.cfg.Targets {
		out = append(out, TargetInfo{Name: t.Name, Agency: t.Agency, Kind: t.Kind, Schedule: t.Schedule})
	}
	return out
}

func (s service) Backup(req BackupRequest) (RunInfo, error) {
	return s.one(s.d.Backup(req.Target, reasonOnDemand, queue.PriorityOnDemand))
}

// Restore answers 400 for whatever makes the request fail before it is queued (the
// kind's RestoreChecker, a bad snapshot or DRC), except an unknown target (404) and a
// daemon shutting down (503).
func (s service) Restore(req RestoreRequest) (RunInfo, error) {
	run, err := s.d.Restore(req)
	if err != nil && !errors.Is(err, errUnknownTarget) && !errors.Is(err, errShuttingDown) {
		err = fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return s.one(run, err)
}

func (s service) Runs(target, agency string, limit int) ([]RunInfo, error) {
	d := s.d
	cf := d.conf()
	if target != "" {
		if _, ok := cf.targets[target]; !ok {
			return nil, wireErr(d.unknownTarget(target))
		}
	}
	return s.runInfos(d.cat.Runs(catalog.RunFilter{Target: target, Agency: agency, Limit: limit}))
}

func (s service) Run(id uint64) (RunInfo, error) {
	if s.d.queue.Get(id) != nil {
		return s.runInfo(catalog.Run{ID: id}), nil
	}
	run, err := s.d.cat.Run(id)
	if err != nil {
		return RunInfo{}, wireErr(err)
	}
	return s.runInfo(*run), nil
}

func (s service) Cancel(id uint64) error {
	if err := s.d.cancel(id); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return nil
}

func (s service) Snapshots(ctx context.Context, target, drcName string) ([]SnapshotInfo, error) {
	out, err := s.snapshots(ctx, target, drcName)
	return out, wireErr(err)
}

func (s service) List(ctx context.Context, target, snapshot, drcName, dir string) (*api.Listing, error) {
	out, err := s.list(ctx, target, snapshot, drcName, dir)
	return out, wireErr(err)
}

func (s service) Schedule(hours int) ScheduleAnswer {
	cf := s.d.conf()
	now := s.d.now()
	to := now.Add(time.Duration(hours) * time.Hour)
	return ScheduleAnswer{From: now, To: to, TimeZone: cf.sched.Loc().String(), Runs: s.schedule(now, to)}
}

func (s service) Forget(req ForgetRequest) (RunInfo, error) {
	return s.one(s.d.Forget(req.Target, req.DryRun))
}

func (s service) Prune(req MaintenanceRequest) ([]RunInfo, error) { return s.runInfos(s.d.Prune(req)) }
func (s service) Check(req MaintenanceRequest) ([]RunInfo, error) { return s.runInfos(s.d.Check(req)) }

func (s service) Unlock(req UnlockRequest, requester string) ([]RunInfo, error) {
	return s.runInfos(s.d.Unlock(req, requester))
}

func (s service) Restic(req api.ResticRequest, requester string) (RunInfo, error) {
	return s.one(s.d.Restic(req, requester))
}

func (s service) DRCs(ctx context.Context) ([]DRCStatus, error) {
	out, err := s.drcStatuses(ctx)
	return out, wireErr(err)
}

func (s service) Replicate(req ReplicateRequest) ([]RunInfo, error) {
	return s.runInfos(s.d.Replicate(req))
}

func (s service) Verify(req VerifyRequest) (RunInfo, error) { return s.one(s.d.Verify(req)) }

func (s service) Alarms(all bool) ([]api.Alarm, error) {
	out, err := s.d.cat.Alarms(all)
	if err != nil {
		return nil, wireErr(err)
	}
	return apiAlarms(out), nil
}

// Drill answers the queued runs as recorded (drills are many runs queued at once; their
// live state is a GET away).
func (s service) Drill(req DrillRequest) ([]RunInfo, error) {
	runs, err := s.d.Drill(req)
	if err != nil {
		return nil, wireErr(err)
	}
	out := make([]RunInfo, 0, len(runs))
	for _, run := range runs {
		out = append(out, RunInfo{Run: apiRun(run)})
	}
	return out, nil
}

func (s service) DrillReport(id uint64, format, lang string) ([]byte, error) {
	b, err := s.drillReport(id, format, lang)
	return b, wireErr(err)
}

func (s service) PeriodReport(from, to time.Time, format, lang string) ([]byte, error) {
	b, err := s.periodReport(from, to, format, lang)
	return b, wireErr(err)
}

package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
)

// The daemon's API: JSON over HTTP on a unix socket (0600, so only the daemon's user
// reaches it). The CLI is its client (package api holds the types and the client);
// every answer is JSON, errors as {"error": "..."}. Every route is registered here:
//
//	GET  /v1/status                 the daemon, its queue, every target's state, problems
//	GET  /v1/targets                configured targets
//	POST /v1/backups                BackupRequest -> the queued run
//	POST /v1/restores               RestoreRequest -> the queued run (400 at once if it cannot succeed)
//	GET  /v1/runs?target=&limit=    runs, newest first
//	GET  /v1/runs/{id}              one run, with live progress while it runs
//	POST /v1/runs/{id}/cancel       cancel a queued or running run
//	GET  /v1/snapshots?target=&drc= a target's snapshots at every DRC (the ledger), or at one DRC
//	GET  /v1/ls?target=&snapshot=&drc=&path=  one folder of a snapshot (restic ls)
//	GET  /v1/schedule?hours=N       planned runs and maintenance windows of the next N hours
//	POST /v1/forget                 ForgetRequest -> the queued run
//	POST /v1/prune                  MaintenanceRequest -> the queued runs
//	POST /v1/check                  MaintenanceRequest -> the queued runs
//	POST /v1/unlock                 UnlockRequest -> the queued unlock runs
//	GET  /v1/drcs                   every DRC: health, replication lag, pending work, alarms, problems
//	POST /v1/replicate              ReplicateRequest -> the runs that will do the passes
//	POST /v1/verify                 VerifyRequest -> the queued verify run
//	GET  /v1/alarms?all=1           alarms, newest first
//	POST /v1/drills                 DrillRequest -> the queued runs
//	GET  /v1/reports/drill/{id}?format=&lang=
//	GET  /v1/reports/period?from=&to=&format=&lang=
func (d *Daemon) api() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", d.handleStatus)
	mux.HandleFunc("GET /v1/targets", d.handleTargets)
	mux.HandleFunc("POST /v1/backups", d.handleBackup)
	mux.HandleFunc("POST /v1/restores", d.handleRestore)
	mux.HandleFunc("GET /v1/runs", d.handleRuns)
	mux.HandleFunc("GET /v1/runs/{id}", d.handleRun)
	mux.HandleFunc("POST /v1/runs/{id}/cancel", d.handleCancel)
	mux.HandleFunc("GET /v1/snapshots", d.handleSnapshots)
	mux.HandleFunc("GET /v1/ls", d.handleList)
	mux.HandleFunc("GET /v1/schedule", d.handleSchedule)
	mux.HandleFunc("POST /v1/forget", d.handleForget)
	mux.HandleFunc("POST /v1/prune", d.handleMaintenance(d.Prune))
	mux.HandleFunc("POST /v1/check", d.handleMaintenance(d.Check))
	mux.HandleFunc("POST /v1/unlock", d.handleUnlock)
	mux.HandleFunc("GET /v1/drcs", d.handleDRCs)
	mux.HandleFunc("POST /v1/replicate", d.handleReplicate)
	mux.HandleFunc("POST /v1/verify", d.handleVerify)
	mux.HandleFunc("GET /v1/alarms", d.handleAlarms)
	mux.HandleFunc("POST /v1/drills", d.handleDrills)
	mux.HandleFunc("GET /v1/reports/drill/{id}", d.handleDrillReport)
	mux.HandleFunc("GET /v1/reports/period", d.handlePeriodReport)
	zone := d.sched.Loc().String()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.ZoneHeader, zone) // human output uses the daemon's zone, labelled
		mux.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers with the HTTP status that fits err.
func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, errUnknownTarget), errors.Is(err, catalog.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, errShuttingDown):
		code = http.StatusServiceUnavailable
	case errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	}
	writeJSON(w, code, api.Error{Error: err.Error()})
}

var errBadRequest = errors.New("bad request")

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	// One JSON object, nothing after it: trailing data is a client that means
	// something else than what was decoded.
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON object", errBadRequest)
	}
	return nil
}

// runInfo returns a run with its live state: from its job while it is queued or
// running (the catalog then holds an older state), else r as the catalog has it.
func (d *Daemon) runInfo(r catalog.Run) RunInfo {
	j := d.queue.Get(r.ID)
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

func (d *Daemon) handleStatus(w http.ResponseWriter, _ *http.Request) {
	st := Status{Version: Version, PID: d.pid, Started: d.started, StateDir: d.cfg.StateDir, Config: d.cfg.File,
		Restic: d.restic.Binary, Targets: len(d.targets), Running: []RunInfo{}}
	st.Queued, _ = d.queue.Counts()
	for _, j := range d.queue.Running() {
		st.Running = append(st.Running, d.runInfo(catalog.Run{ID: j.Run.ID}))
	}
	for _, s := range d.sites {
		st.DRCs = append(st.DRCs, DRCInfo{Name: s.Name, Role: s.Role, Kind: s.Kind(), Location: s.Location()})
	}
	if err := d.fillStatus(&st); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (d *Daemon) handleTargets(w http.ResponseWriter, _ *http.Request) {
	out := []TargetInfo{}
	for _, t := range d.cfg.Targets {
		out = append(out, TargetInfo{Name: t.Name, Agency: t.Agency, Kind: t.Kind, Schedule: t.Schedule})
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Daemon) handleBackup(w http.ResponseWriter, r *http.Request) {
	var req BackupRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	run, err := d.Backup(req.Target, "on-demand", queue.PriorityOnDemand)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, d.runInfo(run))
}

func (d *Daemon) handleRestore(w http.ResponseWriter, r *http.Request) {
	var req RestoreRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	run, err := d.Restore(req)
	if err != nil {
		if !errors.Is(err, errUnknownTarget) && !errors.Is(err, errShuttingDown) {
			err = fmt.Errorf("%w: %v", errBadRequest, err)
		}
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, d.runInfo(run))
}

func (d *Daemon) handleRuns(w http.ResponseWriter, r *http.Request) {
	f := catalog.RunFilter{Target: r.URL.Query().Get("target"), Limit: 50}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			fail(w, fmt.Errorf("%w: limit %q", errBadRequest, s))
			return
		}
		f.Limit = n
	}
	if f.Target != "" {
		if _, ok := d.targets[f.Target]; !ok {
			fail(w, d.unknownTarget(f.Target))
			return
		}
	}
	runs, err := d.cat.Runs(f)
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]RunInfo, len(runs))
	for i, run := range runs {
		out[i] = d.runInfo(run)
	}
	writeJSON(w, http.StatusOK, out)
}

func runID(r *http.Request) (uint64, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: run id %q", errBadRequest, r.PathValue("id"))
	}
	return id, nil
}

func (d *Daemon) handleRun(w http.ResponseWriter, r *http.Request) {
	id, err := runID(r)
	if err != nil {
		fail(w, err)
		return
	}
	if d.queue.Get(id) != nil {
		writeJSON(w, http.StatusOK, d.runInfo(catalog.Run{ID: id}))
		return
	}
	run, err := d.cat.Run(id)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d.runInfo(*run))
}

func (d *Daemon) handleCancel(w http.ResponseWriter, r *http.Request) {
	id, err := runID(r)
	if err != nil {
		fail(w, err)
		return
	}
	if err := d.cancel(id); err != nil {
		fail(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	writeJSON(w, http.StatusAccepted, api.CancelAnswer{Cancelled: id})
}

func (d *Daemon) handleSnapshots(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	snaps, err := d.Snapshots(r.Context(), q.Get("target"), q.Get("drc"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, snaps)
}

func (d *Daemon) handleUnlock(w http.ResponseWriter, r *http.Request) {
	var req UnlockRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	runs, err := d.Unlock(req, requester(r))
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]RunInfo, len(runs))
	for i, run := range runs {
		out[i] = d.runInfo(run)
	}
	writeJSON(w, http.StatusAccepted, out)
}

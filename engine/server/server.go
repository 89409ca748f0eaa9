package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cadang/cadang/engine/api"
)

// Service is what the API serves: the daemon, seen through the requests it answers, in
// the wire types. Its errors say which status answers them: ErrBadRequest (wrapped),
// NotFound and Unavailable; anything else is a 500.
type Service interface {
	Status() (api.Status, error)
	Targets() []api.TargetInfo
	Backup(req api.BackupRequest) (api.RunInfo, error)
	Restore(req api.RestoreRequest) (api.RunInfo, error)
	// Runs lists runs, newest first: of target, of agency ("": all), at most limit (0: all).
	Runs(target, agency string, limit int) ([]api.RunInfo, error)
	Run(id uint64) (api.RunInfo, error)
	Cancel(id uint64) error
	Snapshots(ctx context.Context, target, drc string) ([]api.SnapshotInfo, error)
	List(ctx context.Context, target, snapshot, drc, path string) (*api.Listing, error)
	Schedule(hours int) api.ScheduleAnswer
	Forget(req api.ForgetRequest) (api.RunInfo, error)
	Prune(req api.MaintenanceRequest) ([]api.RunInfo, error)
	Check(req api.MaintenanceRequest) ([]api.RunInfo, error)
	Unlock(req api.UnlockRequest, requester string) ([]api.RunInfo, error)
	Restic(req api.ResticRequest, requester string) (api.RunInfo, error)
	DRCs(ctx context.Context) ([]api.DRCStatus, error)
	Replicate(req api.ReplicateRequest) ([]api.RunInfo, error)
	Verify(req api.VerifyRequest) (api.RunInfo, error)
	Alarms(all bool) ([]api.Alarm, error)
	Damage(all bool, drc, agency string) ([]api.Damage, error)
	Repair(req api.RepairRequest) ([]api.RunInfo, error)
	Recover(req api.RecoverRequest) ([]api.RunInfo, error)
	Drill(req api.DrillRequest) ([]api.RunInfo, error)
	DrillReport(id uint64, format, lang string) ([]byte, error)
	PeriodReport(from, to time.Time, format, lang string) ([]byte, error)
	// Runbooks lists the configured runbooks; RunbookPlan is one's dry run in mode.
	Runbooks() []api.RunbookInfo
	RunbookPlan(ctx context.Context, name, mode string) (api.RunbookPlan, error)
	// StartRunbook starts a runbook run (a real one needs Confirm = its name).
	StartRunbook(req api.RunbookRunRequest, by api.Actor) (api.RunbookRun, error)
	RunbookRun(id uint64) (api.RunbookRun, error)
	// RunbookAction approves a gate (approve: Forbidden for a principal without the
	// gate's role), continues a halted run or aborts one.
	RunbookAction(id uint64, action string, req api.RunbookApproveRequest, by api.Actor) (api.RunbookRun, error)
	// RunbookReport renders a runbook run's report (Berita Acara).
	RunbookReport(id uint64, format, lang string) ([]byte, error)
	// Reload re-reads the daemon's configuration file and applies it, or says why not.
	Reload() (api.ReloadAnswer, error)
	// Config names the configuration file the daemon runs and the SHA-256 of its bytes
	// as loaded.
	Config() (file, digest string)
	// Audit returns the audit log, newest first: agency's entries only when not empty,
	// those at or after since when not zero, at most limit (0: all).
	Audit(agency string, since time.Time, limit int) ([]api.AuditEntry, error)
	// AuditVerify checks the audit log's chain.
	AuditVerify() (api.AuditVerification, error)
	// CreateToken creates an API token and returns it with its secret, which is not
	// kept (only its hash is).
	CreateToken(req api.TokenRequest) (api.TokenCreated, error)
	// Tokens lists the API tokens by name, without their secrets.
	Tokens() ([]api.TokenInfo, error)
	// RevokeToken revokes the token named name (NotFound when there is none).
	RevokeToken(name string) (api.TokenInfo, error)
	// RecordAudit appends e to the audit log: the service sets its time and chain, and
	// its agency, when e has none, from the target or run the request named (""/0:
	// none). It reports its own failures: the answer has gone already.
	RecordAudit(e api.AuditEntry, target string, run uint64)
	// RequestRestore records an agency's restore request, pending approval (by is an
	// agency principal).
	RequestRestore(req api.RestoreRequest, by api.Actor) (api.Request, error)
	// Requests lists restore and export requests, newest first: agency's only when
	// not empty, of status only when not empty.
	Requests(agency, status string) ([]api.Request, error)
	// Request returns one request: NotFound when agency is not empty and the request
	// is not that agency's.
	Request(id uint64, agency string) (api.Request, error)
	// Decide approves or rejects a pending request for by, who must be one of the
	// approvers it waits for (or, to reject it, its requester).
	Decide(id uint64, approve bool, d api.DecisionRequest, by api.Actor) (api.Request, error)
	// RequestExport records an agency's export request, pending approval (Forbidden
	// for a principal of no agency).
	RequestExport(req api.ExportRequest, by api.Actor) (api.Request, error)
	// Download opens export id's bundle for by (its agency's principal): its bytes
	// and size; done(complete) must be called once they are sent (a complete
	// download is recorded as the hand-over).
	Download(ctx context.Context, id uint64, by api.Actor) (body io.ReadCloser, size int64, done func(complete bool), err error)
	// Handover renders export id's hand-over report (agency's only, when not empty).
	Handover(id uint64, agency, format, lang string) ([]byte, error)
	// StateStatus is the protection of cadang's own state: the bundles at each DRC.
	StateStatus(ctx context.Context) (api.StateStatus, error)
	// Takeover promotes this standby to the primary; Handback returns the primary role
	// to the site taken over (standby.go). Both take minutes at most and answer when done.
	Takeover(ctx context.Context, req api.TakeoverRequest, by api.Actor) (api.SiteStatus, error)
	Handback(ctx context.Context, req api.HandbackRequest, by api.Actor) (api.SiteStatus, error)
	// NotifyTest sends a test message on a notification channel now.
	NotifyTest(ctx context.Context, req api.NotifyTestRequest) error
	// Metrics serves the Prometheus metrics (text exposition format).
	Metrics() http.Handler
	// Zone is the daemon's time zone (scheduler.timezone): dates in requests are read in
	// it, and every answer names it.
	Zone() *time.Location
}

// Errors that choose the answer's status.
var (
	// ErrBadRequest (wrapped with %w) answers 400: the request cannot succeed as given.
	ErrBadRequest = errors.New("bad request")
)

// coded is an error answered with a given status; its text is the error's own.
type coded struct {
	code int
	err  error
}

func (e *coded) Error() string { return e.err.Error() }
func (e *coded) Unwrap() error { return e.err }

// NotFound marks err to be answered 404 (an unknown target, run or object).
func NotFound(err error) error { return &coded{http.StatusNotFound, err} }

// Conflict marks err to be answered 409 (a name taken already).
func Conflict(err error) error { return &coded{http.StatusConflict, err} }

// Forbidden marks err to be answered 403 (the principal may not do this to an object
// it may see).
func Forbidden(err error) error { return &coded{http.StatusForbidden, err} }

// Gone marks err to be answered 410 (an export's link that expired or was used).
func Gone(err error) error { return &coded{http.StatusGone, err} }

// Unavailable marks err to be answered 503 (the daemon is shutting down).
func Unavailable(err error) error { return &coded{http.StatusServiceUnavailable, err} }

// MaxScheduleHours bounds `cadang schedule --hours`.
const MaxScheduleHours = 24 * 366

// New returns the API's handler. Every route is registered here:
//
//	GET  /v1/status                 the daemon, its queue, every target's state, problems
//	GET  /v1/targets                configured targets
//	POST /v1/backups                BackupRequest -> the queued run
//	POST /v1/restores               RestoreRequest -> the queued run (400 at once if it cannot succeed); an agency's: a pending Request
//	GET  /v1/requests?agency=&status=  restore and export requests, newest first
//	POST /v1/exports                ExportRequest -> a pending Request (agencies only)
//	GET  /v1/exports/{id}/download  the export's encrypted bundle (its agency only): the hand-over
//	GET  /v1/exports/{id}/handover?format=&lang=  the hand-over report (Berita Acara Serah Terima Data)
//	GET  /v1/requests/{id}          one request
//	POST /v1/requests/{id}/approve  DecisionRequest -> the Request (its run queued once every approver approved)
//	POST /v1/requests/{id}/reject   DecisionRequest -> the Request
//	GET  /v1/runs?target=&agency=&limit=  runs, newest first
//	GET  /v1/runs/{id}              one run, with live progress while it runs
//	POST /v1/runs/{id}/cancel       cancel a queued or running run
//	GET  /v1/snapshots?target=&drc= a target's snapshots at every DRC (the ledger), or at one DRC
//	GET  /v1/ls?target=&snapshot=&drc=&path=  one folder of a snapshot (restic ls)
//	GET  /v1/schedule?hours=N       planned runs and maintenance windows of the next N hours
//	POST /v1/forget                 ForgetRequest -> the queued run
//	POST /v1/prune                  MaintenanceRequest -> the queued runs
//	POST /v1/check                  MaintenanceRequest -> the queued runs
//	POST /v1/unlock                 UnlockRequest -> the queued unlock runs
//	POST /v1/restic                 ResticRequest -> the queued restic hand run (operator only)
//	POST /v1/reload                 re-read the configuration file -> ReloadAnswer (400: not applied, why)
//	GET  /v1/drcs                   every DRC: health, replication lag, pending work, alarms, problems
//	POST /v1/replicate              ReplicateRequest -> the runs that will do the passes
//	POST /v1/verify                 VerifyRequest -> the queued verify run
//	GET  /v1/alarms?all=1           alarms, newest first
//	GET  /v1/damage?all=1&drc=&agency=  damaged objects at the DRCs, newest first
//	POST /v1/repair                 RepairRequest -> the queued repair runs
//	POST /v1/recover                RecoverRequest -> the queued recover runs (objects hidden by delete markers)
//	POST /v1/drills                 DrillRequest -> the queued runs
//	GET  /v1/reports/drill/{id}?format=&lang=
//	GET  /v1/reports/period?from=&to=&format=&lang=
//	GET  /v1/audit?agency=&since=&limit=  the audit log, newest first (since: RFC 3339 or a date; limit 100, 0: all)
//	GET  /v1/audit/verify           check the audit log's hash chain -> AuditVerification
//	GET  /v1/state                  the state bundles at each DRC (state_protection) -> StateStatus
//	POST /v1/takeover               TakeoverRequest: promote this standby -> SiteStatus
//	POST /v1/handback               HandbackRequest: return the primary role -> SiteStatus
//	POST /v1/notify/test            NotifyTestRequest -> 204 once the channel took it (503: it did not, why)
//	GET  /metrics                   Prometheus metrics (operator, auditor)
//	GET  /v1/openapi.json           the OpenAPI 3.1 document of these routes (openapi.go)
//	POST /v1/tokens                 TokenRequest -> TokenCreated (201), its secret shown this once (409: name taken)
//	GET  /v1/tokens                 API tokens by name, without secrets -> []TokenInfo
//	POST /v1/tokens/{name}/revoke   revoke a token -> TokenInfo
//
// Every request that changes something (any method but GET), refused or not, and every
// read of data (GET /v1/ls) is recorded in the audit log by one middleware (audit.go),
// after its handler answered.
func New(s Service) http.Handler {
	h := &handlers{s: s}
	mux := http.NewServeMux()
	var patterns []string
	handle := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, h)
		patterns = append(patterns, pattern)
	}
	handle("GET /v1/status", h.status)
	handle("GET /v1/targets", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Targets()) })
	handle("POST /v1/backups", accept(s.Backup))
	handle("POST /v1/restores", accept(s.Restore))
	handle("GET /v1/requests", h.requests)
	handle("POST /v1/notify/test", func(w http.ResponseWriter, r *http.Request) {
		var req api.NotifyTestRequest
		if err := decode(r, &req); err != nil {
			fail(w, err)
			return
		}
		if err := s.NotifyTest(r.Context(), req); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	handle("GET /metrics", func(w http.ResponseWriter, r *http.Request) { s.Metrics().ServeHTTP(w, r) })
	handle("GET /v1/state", func(w http.ResponseWriter, r *http.Request) {
		out, err := s.StateStatus(r.Context())
		answer(w, out, err)
	})
	handle("POST /v1/exports", acceptAs(s.RequestExport))
	handle("GET /v1/exports/{id}/download", h.download)
	handle("GET /v1/exports/{id}/handover", h.handover)
	handle("GET /v1/requests/{id}", h.request)
	handle("POST /v1/requests/{id}/approve", h.decide(true))
	handle("POST /v1/requests/{id}/reject", h.decide(false))
	handle("GET /v1/runs", h.runs)
	handle("GET /v1/runs/{id}", h.run)
	handle("POST /v1/runs/{id}/cancel", h.cancel)
	handle("GET /v1/snapshots", h.snapshots)
	handle("GET /v1/ls", h.list)
	handle("GET /v1/schedule", h.schedule)
	handle("POST /v1/forget", accept(s.Forget))
	handle("POST /v1/prune", accept(s.Prune))
	handle("POST /v1/check", accept(s.Check))
	handle("POST /v1/unlock", h.unlock)
	handle("POST /v1/restic", h.restic)
	handle("POST /v1/takeover", call(s.Takeover))
	handle("POST /v1/handback", call(s.Handback))
	handle("POST /v1/reload", func(w http.ResponseWriter, _ *http.Request) {
		out, err := s.Reload()
		answer(w, out, err)
	})
	handle("GET /v1/drcs", h.drcs)
	handle("POST /v1/replicate", accept(s.Replicate))
	handle("POST /v1/verify", accept(s.Verify))
	handle("GET /v1/alarms", h.alarms)
	handle("GET /v1/damage", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		out, err := s.Damage(q.Get("all") != "", q.Get("drc"), q.Get("agency"))
		answer(w, out, err)
	})
	handle("POST /v1/repair", accept(s.Repair))
	handle("POST /v1/recover", accept(s.Recover))
	handle("POST /v1/drills", accept(s.Drill))
	handle("GET /v1/reports/drill/{id}", report(s.DrillReport))
	handle("GET /v1/reports/period", h.periodReport)
	handle("GET /v1/runbooks", func(w http.ResponseWriter, _ *http.Request) { answer(w, s.Runbooks(), nil) })
	handle("GET /v1/runbooks/{name}/plan", func(w http.ResponseWriter, r *http.Request) {
		out, err := s.RunbookPlan(r.Context(), r.PathValue("name"), r.URL.Query().Get("mode"))
		answer(w, out, err)
	})
	handle("POST /v1/runbook-runs", acceptAs(s.StartRunbook))
	handle("GET /v1/runbook-runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := runID(r)
		if err != nil {
			fail(w, err)
			return
		}
		out, err := s.RunbookRun(id)
		answer(w, out, err)
	})
	for _, action := range []string{"approve", "abort", "continue"} {
		handle("POST /v1/runbook-runs/{id}/"+action, func(w http.ResponseWriter, r *http.Request) {
			id, err := runID(r)
			if err != nil {
				fail(w, err)
				return
			}
			var req api.RunbookApproveRequest
			if action == "approve" {
				if err := decode(r, &req); err != nil {
					fail(w, err)
					return
				}
			}
			out, err := s.RunbookAction(id, action, req, actor(r))
			answer(w, out, err)
		})
	}
	handle("GET /v1/reports/runbook/{id}", report(s.RunbookReport))
	handle("GET /v1/audit", h.audit)
	handle("GET /v1/audit/verify", h.auditVerify)
	handle("POST /v1/tokens", h.createToken)
	handle("GET /v1/tokens", func(w http.ResponseWriter, _ *http.Request) {
		out, err := s.Tokens()
		answer(w, out, err)
	})
	handle("POST /v1/tokens/{name}/revoke", func(w http.ResponseWriter, r *http.Request) {
		out, err := s.RevokeToken(r.PathValue("name"))
		answer(w, out, err)
	})
	handle("GET /v1/openapi.json", serveOpenAPI)
	routesOnce.Do(func() { routes = patterns })
	logged := audited(s, mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.ZoneHeader, s.Zone().String()) // human output uses the daemon's zone, labelled
		if file, digest := s.Config(); digest != "" {
			// A client compares it with the file now: a daemon running an older
			// version of its configuration is worth a warning (cadang reload).
			w.Header().Set(api.ConfigFileHeader, file)
			w.Header().Set(api.ConfigDigestHeader, digest)
		}
		logged.ServeHTTP(w, r)
	})
}

// openAPIDoc is the OpenAPI document, made once.
var openAPIDoc = sync.OnceValue(OpenAPI)

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc())
}

// Routes are the API's route patterns, as New registers them (after a first New): the
// tests walk every one of them.
func Routes() []string { return slices.Clone(routes) }

var (
	routesOnce sync.Once
	routes     []string
)

type handlers struct{ s Service }

// createToken answers the new token's secret once, and asks that it be kept nowhere on
// the way.
func (h *handlers) createToken(w http.ResponseWriter, r *http.Request) {
	var req api.TokenRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	out, err := h.s.CreateToken(req)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, out)
}

// accept is a POST that queues work: the request decoded, the queued run(s) answered
// 202.
func accept[Req, Resp any](queue func(Req) (Resp, error)) http.HandlerFunc {
	return acceptAs(func(req Req, _ api.Actor) (Resp, error) { return queue(req) })
}

// acceptAs is accept for a service call that needs to know who asks.
func acceptAs[Req, Resp any](queue func(Req, api.Actor) (Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if err := decode(r, &req); err != nil {
			fail(w, err)
			return
		}
		out, err := queue(req, actor(r))
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, out)
	}
}

// call is a POST answered when the work is done (200): the request decoded, the
// service called with the request's context and who asks.
func call[Req, Resp any](fn func(context.Context, Req, api.Actor) (Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if err := decode(r, &req); err != nil {
			fail(w, err)
			return
		}
		out, err := fn(r.Context(), req, actor(r))
		answer(w, out, err)
	}
}

// answer writes v, or the error.
func answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *handlers) status(w http.ResponseWriter, _ *http.Request) {
	st, err := h.s.Status()
	answer(w, st, err)
}

func (h *handlers) runs(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			fail(w, fmt.Errorf("%w: limit %q", ErrBadRequest, s))
			return
		}
		limit = n
	}
	out, err := h.s.Runs(r.URL.Query().Get("target"), r.URL.Query().Get("agency"), limit)
	answer(w, out, err)
}

func runID(r *http.Request) (uint64, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: run id %q", ErrBadRequest, r.PathValue("id"))
	}
	return id, nil
}

func (h *handlers) run(w http.ResponseWriter, r *http.Request) {
	id, err := runID(r)
	if err != nil {
		fail(w, err)
		return
	}
	out, err := h.s.Run(id)
	answer(w, out, err)
}

func (h *handlers) cancel(w http.ResponseWriter, r *http.Request) {
	id, err := runID(r)
	if err != nil {
		fail(w, err)
		return
	}
	if err := h.s.Cancel(id); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, api.CancelAnswer{Cancelled: id})
}

func (h *handlers) snapshots(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out, err := h.s.Snapshots(r.Context(), q.Get("target"), q.Get("drc"))
	answer(w, out, err)
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out, err := h.s.List(r.Context(), q.Get("target"), q.Get("snapshot"), q.Get("drc"), q.Get("path"))
	answer(w, out, err)
}

func (h *handlers) schedule(w http.ResponseWriter, r *http.Request) {
	hours := 24
	if s := r.URL.Query().Get("hours"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxScheduleHours {
			fail(w, fmt.Errorf("%w: hours %q: give 1 to %d", ErrBadRequest, s, MaxScheduleHours))
			return
		}
		hours = n
	}
	writeJSON(w, http.StatusOK, h.s.Schedule(hours))
}

// unlock records who asked: `cadang unlock --all` removes what others hold.
func (h *handlers) unlock(w http.ResponseWriter, r *http.Request) {
	var req api.UnlockRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	out, err := h.s.Unlock(req, requester(r))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, out)
}

// restic records who asked: a hand operation is audited.
func (h *handlers) restic(w http.ResponseWriter, r *http.Request) {
	var req api.ResticRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	out, err := h.s.Restic(req, requester(r))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, out)
}

func (h *handlers) drcs(w http.ResponseWriter, r *http.Request) {
	out, err := h.s.DRCs(r.Context())
	answer(w, out, err)
}

func (h *handlers) alarms(w http.ResponseWriter, r *http.Request) {
	out, err := h.s.Alarms(r.URL.Query().Get("all") != "")
	answer(w, out, err)
}

// report is a GET of a run's report (a drill's, a runbook run's) by its id, in the
// format and language asked.
func report(render func(id uint64, format, lang string) ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := runID(r)
		if err != nil {
			fail(w, err)
			return
		}
		format, lang, err := reportParams(r)
		if err != nil {
			fail(w, err)
			return
		}
		b, err := render(id, format, lang)
		if err != nil {
			fail(w, err)
			return
		}
		writeReport(w, format, b)
	}
}

// periodReport: dates YYYY-MM-DD in the daemon's zone, to inclusive.
func (h *handlers) periodReport(w http.ResponseWriter, r *http.Request) {
	format, lang, err := reportParams(r)
	if err != nil {
		fail(w, err)
		return
	}
	loc := h.s.Zone()
	from, err1 := time.ParseInLocation("2006-01-02", r.URL.Query().Get("from"), loc)
	to, err2 := time.ParseInLocation("2006-01-02", r.URL.Query().Get("to"), loc)
	if err1 != nil || err2 != nil {
		fail(w, fmt.Errorf("%w: from and to are dates (YYYY-MM-DD)", ErrBadRequest))
		return
	}
	b, err := h.s.PeriodReport(from, to.AddDate(0, 0, 1), format, lang)
	if err != nil {
		fail(w, err)
		return
	}
	writeReport(w, format, b)
}

// Report languages (runbooks.LangID, runbooks.LangEN) as the API names them.
const (
	langID = "id"
	langEN = "en"
)

func reportParams(r *http.Request) (format, lang string, err error) {
	q := r.URL.Query()
	format, lang = q.Get("format"), q.Get("lang")
	if format == "" {
		format = "pdf"
	}
	switch lang {
	case "", langID, langEN:
	default:
		return "", "", fmt.Errorf("%w: language %q (id or en)", ErrBadRequest, lang)
	}
	return format, lang, nil
}

func writeReport(w http.ResponseWriter, format string, b []byte) {
	types := map[string]string{"json": "application/json", "html": "text/html; charset=utf-8", "pdf": "application/pdf"}
	w.Header().Set("Content-Type", types[format])
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers with the HTTP status that fits err.
func fail(w http.ResponseWriter, err error) {
	code := StatusOf(err)
	writeJSON(w, code, api.Error{Error: err.Error(), Code: errorCodes[code]})
}

// StatusOf is the HTTP status that answers err: the one NotFound, Conflict, ... gave
// it, 400 for ErrBadRequest, else 500.
func StatusOf(err error) int {
	var c *coded
	switch {
	case errors.As(err, &c):
		return c.code
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// errorCodes are the stable codes of the errors a handler answers (the network layer
// adds its own: unauthenticated, invalid_token, rate_limited, ...).
var errorCodes = map[int]string{
	http.StatusBadRequest:          "bad_request",
	http.StatusForbidden:           "forbidden",
	http.StatusNotFound:            "not_found",
	http.StatusConflict:            "conflict",
	http.StatusGone:                "gone",
	http.StatusInternalServerError: "internal",
	http.StatusServiceUnavailable:  "unavailable",
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	// One JSON object, nothing after it: trailing data is a client that means
	// something else than what was decoded.
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON object", ErrBadRequest)
	}
	return nil
}

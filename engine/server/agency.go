package server

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/cadang/cadang/engine/api"
)

// The agencies' scoped API: what an agency principal (agency-admin, agency-requester,
// agency-viewer, or the portal acting for an agency) may do on the network. It is a
// mux of its own, so that a route is served to an agency only once it is written here
// with its scope: every other route of the API answers 403 to an agency principal
// (deny by default). Each handler asks the Service for the agency's own objects
// only; another agency's object is answered exactly like one that does not exist,
// with the same status and the same text (and no "did you mean" that could name
// another agency's target).

// AgencyRoutes are the routes served to agency principals; the isolation test walks
// them with another agency's objects.
var AgencyRoutes = []string{
	"GET /v1/status",
	"GET /v1/targets",
	"GET /v1/runs",
	"GET /v1/runs/{id}",
	"GET /v1/snapshots",
	"POST /v1/backups",
	"POST /v1/restores",
	"GET /v1/requests",
	"GET /v1/requests/{id}",
	"POST /v1/requests/{id}/approve",
	"POST /v1/requests/{id}/reject",
	"POST /v1/exports",
	"GET /v1/exports/{id}/download",
	"GET /v1/exports/{id}/handover",
	"GET /v1/audit",
	"GET /v1/reports/drill/{id}",
	"GET /v1/openapi.json",
}

// agencyWrites are the agency routes that change something, or take data out (a
// download is a hand-over): the viewer may not.
var agencyWrites = map[string]bool{
	"POST /v1/exports":               true,
	"GET /v1/exports/{id}/download":  true,
	"POST /v1/backups":               true,
	"POST /v1/restores":              true,
	"POST /v1/requests/{id}/approve": true,
	"POST /v1/requests/{id}/reject":  true,
}

func agencyMux(s Service) *http.ServeMux {
	mux := http.NewServeMux()
	own := func(r *http.Request, target string) bool {
		a := principalOf(r).Agency
		return slices.ContainsFunc(s.Targets(), func(t api.TargetInfo) bool { return t.Name == target && t.Agency == a })
	}
	noTarget := func(target string) error { return NotFound(fmt.Errorf("unknown target %q", target)) }
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Status()
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, agencyStatus(st, principalOf(r).Agency))
	})
	mux.HandleFunc("GET /v1/targets", func(w http.ResponseWriter, r *http.Request) {
		a := principalOf(r).Agency
		out := []api.TargetInfo{}
		for _, t := range s.Targets() {
			if t.Agency == a {
				out = append(out, t)
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /v1/runs", func(w http.ResponseWriter, r *http.Request) {
		a := principalOf(r).Agency
		limit := 50
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				fail(w, fmt.Errorf("%w: limit %q", ErrBadRequest, v))
				return
			}
			limit = n
		}
		target := r.URL.Query().Get("target")
		if target != "" && !own(r, target) {
			fail(w, noTarget(target))
			return
		}
		// The catalog stops at limit: an agency's newest runs without reading the
		// others' (or the target's whole history).
		out, err := s.Runs(target, a, limit)
		if err != nil {
			fail(w, err)
			return
		}
		if out == nil {
			out = []api.RunInfo{}
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /v1/runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := runID(r)
		if err != nil {
			fail(w, err)
			return
		}
		run, err := s.Run(id)
		if err != nil || run.Agency != principalOf(r).Agency {
			fail(w, NotFound(fmt.Errorf("run %d: not found", id)))
			return
		}
		writeJSON(w, http.StatusOK, run)
	})
	mux.HandleFunc("GET /v1/snapshots", func(w http.ResponseWriter, r *http.Request) {
		target := r.URL.Query().Get("target")
		if !own(r, target) {
			fail(w, noTarget(target))
			return
		}
		out, err := s.Snapshots(r.Context(), target, r.URL.Query().Get("drc"))
		answer(w, out, err)
	})
	mux.HandleFunc("POST /v1/backups", func(w http.ResponseWriter, r *http.Request) {
		var req api.BackupRequest
		if err := decode(r, &req); err != nil {
			fail(w, err)
			return
		}
		if !own(r, req.Target) {
			fail(w, noTarget(req.Target))
			return
		}
		out, err := s.Backup(req)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, out)
	})
	// An agency's restore is a request, pending its approvers (requests.go); the
	// service checks the target is the agency's, and the destination one its
	// target allows agencies.
	h := &handlers{s: s}
	mux.HandleFunc("POST /v1/restores", acceptAs(s.RequestRestore)) // requests.go: an agency's restore is a request, answered 202 pending
	mux.HandleFunc("GET /v1/requests", h.requests)
	mux.HandleFunc("GET /v1/requests/{id}", h.request)
	mux.HandleFunc("POST /v1/requests/{id}/approve", h.decide(true))
	mux.HandleFunc("POST /v1/requests/{id}/reject", h.decide(false))
	mux.HandleFunc("POST /v1/exports", acceptAs(s.RequestExport))
	mux.HandleFunc("GET /v1/exports/{id}/download", h.download)
	mux.HandleFunc("GET /v1/exports/{id}/handover", h.handover)
	mux.HandleFunc("GET /v1/audit", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Set("agency", principalOf(r).Agency) // its own entries only, whatever it asked
		r.URL.RawQuery = q.Encode()
		h.audit(w, r)
	})
	mux.HandleFunc("GET /v1/reports/drill/{id}", func(w http.ResponseWriter, r *http.Request) {
		// The Berita Acara of the agency's own drills.
		id, err := runID(r)
		if err != nil {
			fail(w, err)
			return
		}
		if run, err := s.Run(id); err != nil || run.Agency != principalOf(r).Agency || run.Op != "drill" {
			fail(w, NotFound(fmt.Errorf("run %d: not found", id)))
			return
		}
		report(s.DrillReport)(w, r)
	})
	mux.HandleFunc("GET /v1/openapi.json", serveOpenAPI)
	return mux
}

// agencyRole reports whether role is one of an agency's (the portal included).
func agencyRole(role string) bool {
	switch role {
	case "agency-admin", "agency-requester", "agency-viewer", "portal":
		return true
	}
	return false
}

// agencyStatus is the status an agency is shown: its own targets, queued, running and
// planned runs and repositories; the DRCs by name and role only; nothing of the
// daemon's host (state dir, config, restic, DRC locations) and none of the problems
// or replication lags, which name other agencies' targets.
func agencyStatus(st api.Status, agency string) api.Status {
	out := api.Status{Version: st.Version, Started: st.Started, Now: st.Now, TimeZone: st.TimeZone, Blackout: st.Blackout,
		Running: []api.RunInfo{}, Waiting: []api.RunInfo{}, Next: []api.PlannedRun{}, TargetStatus: []api.TargetStatus{},
		Repositories: []api.RepoState{}, Replication: []api.ReplicationLag{}, Problems: []string{}}
	for _, d := range st.DRCs {
		out.DRCs = append(out.DRCs, api.DRCInfo{Name: d.Name, Role: d.Role, Kind: d.Kind})
	}
	for _, r := range st.Running {
		if r.Agency == agency {
			out.Running = append(out.Running, r)
		}
	}
	for _, r := range st.Waiting {
		if r.Agency == agency {
			out.Waiting = append(out.Waiting, r)
			out.Queued++
		}
	}
	for _, p := range st.Next {
		if p.Agency == agency {
			out.Next = append(out.Next, p)
		}
	}
	for _, t := range st.TargetStatus {
		if t.Agency == agency {
			out.TargetStatus = append(out.TargetStatus, t)
		}
	}
	out.Targets = len(out.TargetStatus)
	for _, r := range st.Repositories {
		if r.Agency == agency {
			out.Repositories = append(out.Repositories, r)
		}
	}
	return out
}

package engine

import (
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
)

// The daemon's API speaks the types of package api (the contract); this file is the one
// place where the engine's own records (the catalog's runs, repository states and
// alarms, a DRC's health, a maintenance window) are mapped to them. A change to the
// catalog changes the wire format only through a change here, which the golden JSON
// tests of wire_test.go show.
//
// The wire types the engine builds as they are are used under their own names in the
// engine through these aliases.
type (
	Status             = api.Status
	DRCInfo            = api.DRCInfo
	TargetInfo         = api.TargetInfo
	TargetStatus       = api.TargetStatus
	RunBrief           = api.RunBrief
	RunInfo            = api.RunInfo
	Progress           = api.Progress
	PlannedRun         = api.PlannedRun
	ScheduleAnswer     = api.ScheduleAnswer
	SnapshotInfo       = api.SnapshotInfo
	ReplicationLag     = api.ReplicationLag
	DRCStatus          = api.DRCStatus
	ReplicationStatus  = api.ReplicationStatus
	VerifyReport       = api.VerifyReport
	AgencyVerify       = api.AgencyVerify
	SiteCompare        = api.SiteCompare
	BackupRequest      = api.BackupRequest
	RestoreRequest     = api.RestoreRequest
	MaintenanceRequest = api.MaintenanceRequest
	ForgetRequest      = api.ForgetRequest
	UnlockRequest      = api.UnlockRequest
	DrillRequest       = api.DrillRequest
	ReplicateRequest   = api.ReplicateRequest
	VerifyRequest      = api.VerifyRequest
	RepairRequest      = api.RepairRequest
	RecoverRequest     = api.RecoverRequest
)

// apiRun maps a catalog run to the wire.
func apiRun(r catalog.Run) api.Run {
	return api.Run{
		ID: r.ID, Op: r.Op, Target: r.Target, Agency: r.Agency, Kind: r.Kind, DRC: r.DRC, Reason: r.Reason, Agent: r.Agent,
		Status: api.RunStatus(r.Status), Queued: r.Queued, Started: r.Started, Ended: r.Ended, Time: r.Time(),
		SnapshotID: r.SnapshotID, Destination: r.Destination, BytesProcessed: r.BytesProcessed, BytesAdded: r.BytesAdded,
		BytesStored: r.BytesStored, FilesProcessed: r.FilesProcessed, FilesNew: r.FilesNew, FilesChanged: r.FilesChanged,
		Error: r.Error, Notes: r.Notes, Manifest: r.Manifest, PID: r.PID,
	}
}

// apiRepoState maps a repository's maintenance state to the wire.
func apiRepoState(s catalog.RepoState) api.RepoState {
	out := api.RepoState{DRC: s.DRC, Agency: s.Agency, Parts: s.Parts, NextPart: s.NextPart}
	if c := s.LastCheck; c != nil {
		out.LastCheck = &api.CheckResult{Run: c.Run, Time: c.Time, Status: api.RunStatus(c.Status), Subset: c.Subset,
			Errors: c.Errors, BrokenPacks: c.BrokenPacks, Message: c.Message}
	}
	if p := s.LastPrune; p != nil {
		out.LastPrune = &api.OpResult{Run: p.Run, Time: p.Time, Status: api.RunStatus(p.Status), Message: p.Message}
	}
	return out
}

// apiAlarm maps an alarm to the wire.
func apiAlarm(a catalog.Alarm) api.Alarm {
	status := "active"
	if !a.Resolved.IsZero() {
		status = "resolved"
	}
	return api.Alarm{ID: a.ID, Kind: a.Kind, DRC: a.DRC, Agency: a.Agency, Object: a.Object, Message: a.Message,
		First: a.First, Last: a.Last, Count: a.Count, Resolved: a.Resolved, Time: a.Last, Status: status}
}

func apiAlarms(as []catalog.Alarm) []api.Alarm {
	out := make([]api.Alarm, len(as))
	for i, a := range as {
		out[i] = apiAlarm(a)
	}
	return out
}

// apiHealth maps a DRC's probe to the wire.
func apiHealth(h drc.Health) api.Health {
	return api.Health{DRC: h.DRC, Reachable: h.Reachable, Error: h.Error, Checked: h.Checked, LatencyMS: h.LatencyMS,
		FreeBytes: h.FreeBytes, TotalBytes: h.TotalBytes, Capacity: h.Capacity, Versioning: h.Versioning, ObjectLock: h.ObjectLock,
		Immutability: h.Immutability, LockError: h.LockError}
}

// apiWindow maps a maintenance window to the wire.
func apiWindow(w config.Window) *api.Window {
	return &api.Window{Name: w.Name, Start: w.Start, End: w.End}
}

// apiAudit maps an audit entry to the wire.
func apiAudit(e catalog.AuditEntry) api.AuditEntry {
	return api.AuditEntry{Seq: e.Seq, Time: e.Time, Principal: e.Principal, Role: e.Role, Agency: e.Agency,
		Action: e.Action, Object: e.Object, Ticket: e.Ticket, Status: e.Status, Result: e.Result, Source: e.Source,
		Prev: e.Prev, Hash: e.Hash}
}

// catalogAudit maps a recorded call from the wire to the catalog (without its seq,
// time and chain, which the catalog assigns).
func catalogAudit(e api.AuditEntry) catalog.AuditEntry {
	return catalog.AuditEntry{Principal: e.Principal, Role: e.Role, Agency: e.Agency, Action: e.Action,
		Object: e.Object, Ticket: e.Ticket, Status: e.Status, Result: e.Result, Source: e.Source}
}

// apiToken maps an API token to the wire, without its hash, with its status at now.
func apiToken(t catalog.Token, now time.Time) api.TokenInfo {
	return api.TokenInfo{Name: t.Name, Role: t.Role, Agency: t.Agency, Created: t.Created, Expires: t.Expires,
		Revoked: t.Revoked, LastUsed: t.LastUsed, Status: t.Status(now)}
}

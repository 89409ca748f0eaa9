package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/server"
)

// An agency's restores are requests: POST /v1/restores by an agency principal records
// one, pending, and nothing runs until every approver its agency's policy names
// (config.Agency.Approval: its admin and an operator by default) has approved it. The
// requester never approves its own request. The snapshot is pinned when the request is
// made, so that the approvers approve one snapshot and not whatever "latest" becomes.
// The operator's own restores, on the unix socket, run at once as before.

const (
	// requestLifetime is how long a request waits for its decisions before it lapses.
	requestLifetime = 7 * 24 * time.Hour
	// maxComment bounds a decision's comment, in bytes.
	maxComment = 2000
	// resolveTimeout bounds the pinning of a request's snapshot at its DRC.
	resolveTimeout = 2 * time.Minute
)

var errRequestNotFound = errors.New("not found")

// noRequest is the answer for a request that does not exist or is another agency's:
// the same for both, so that ids cannot be probed.
func noRequest(id uint64) error {
	return server.NotFound(fmt.Errorf("request %d: %w", id, errRequestNotFound))
}

// agencyConfig returns the configuration of agency id (zero when it is not configured).
func agencyConfig(cfg *config.Config, id string) config.Agency {
	for _, a := range cfg.Agencies {
		if a.ID == id {
			return a
		}
	}
	return config.Agency{ID: id}
}

// RequestRestore records an agency's restore request, pending approval. What the
// restore could not do (a destination outside api.restore_destinations, one the kind
// refuses, a snapshot the DRC does not hold) is refused at once, with the reason.
func (s service) RequestRestore(req api.RestoreRequest, by api.Actor) (api.Request, error) {
	d := s.d
	if err := d.passive(""); err != nil {
		return api.Request{}, wireErr(err)
	}
	cf := d.conf()
	t, ok := cf.targets[req.Target]
	if !ok || by.Agency == "" || t.Cfg.Agency != by.Agency {
		return api.Request{}, server.NotFound(fmt.Errorf("unknown target %q", req.Target))
	}
	if err := checkDestination(t.Cfg, req); err != nil {
		return api.Request{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	_, site, err := d.checkRestore(req)
	if err != nil {
		return api.Request{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return s.addRequest(catalog.Request{Kind: catalog.RequestRestore, To: req.To, Force: req.Force, Include: req.Include, Options: req.Options},
		t, site, req.Snapshot, by)
}

// addRequest pins the snapshot of r (asked as snapshot: an id, a prefix or latest) at
// site, fills in who asked, when it lapses and who must approve (its agency's policy
// now), records it, and tells its approvers.
func (s service) addRequest(r catalog.Request, t *target, site *drc.Site, snapshot string, by api.Actor) (api.Request, error) {
	d := s.d
	cf := d.conf()
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	snap, _, err := cf.runs.ResolveSnapshot(ctx, site.Repo(t.Cfg.Agency), t.Cfg.Name, snapshot)
	if err != nil {
		return api.Request{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	now := d.now()
	r.Agency, r.Target, r.Snapshot, r.DRC = t.Cfg.Agency, t.Cfg.Name, snap.ID, site.Name
	r.Requester, r.RequesterRole, r.Ticket = by.Name, by.Role, by.Ticket
	r.Created, r.Expires, r.Status = now, now.Add(requestLifetime), catalog.RequestPending
	r.Approvers = slices.Clone(agencyConfig(cf.cfg, t.Cfg.Agency).Approvers())
	if err := d.cat.AddRequest(&r); err != nil {
		return api.Request{}, err
	}
	d.requestMade(r) // notifications.go
	d.log.Info(r.Kind+" requested", "request", r.ID, "target", r.Target, "agency", r.Agency, "by", r.Requester,
		"snapshot", snap.ShortID, "to", r.To, "approvers", strings.Join(r.Approvers, "+"))
	return s.requestInfo(r), nil
}

// Requests lists requests, newest first: agency's only when not empty, and of status
// only when not empty.
func (s service) Requests(agency, status string) ([]api.Request, error) {
	switch status {
	case "", catalog.RequestPending, catalog.RequestApproved, catalog.RequestRejected, catalog.RequestExpired, catalog.RequestFailed:
	default:
		return nil, fmt.Errorf("%w: status %q (pending, approved, rejected, expired or failed)", errBadRequest, status)
	}
	now := s.d.now()
	rs, err := s.d.cat.Requests(func(r catalog.Request) bool {
		lapse(&r, now)
		return (agency == "" || r.Agency == agency) && (status == "" || r.Status == status)
	})
	if err != nil {
		return nil, err
	}
	out := make([]api.Request, len(rs))
	for i, r := range rs {
		out[i] = s.requestInfo(r)
	}
	return out, nil
}

// Request returns request id; when agency is not empty, only if it is that agency's.
func (s service) Request(id uint64, agency string) (api.Request, error) {
	r, err := s.d.cat.Request(id)
	if err != nil || agency != "" && r.Agency != agency {
		return api.Request{}, noRequest(id)
	}
	return s.requestInfo(r), nil
}

// lapse marks r expired when it is still pending past its expiry.
func lapse(r *catalog.Request, now time.Time) bool {
	if r.Status == catalog.RequestPending && !now.Before(r.Expires) {
		r.Status, r.Decided = catalog.RequestExpired, r.Expires
		return true
	}
	return false
}

// approverRole is the approver role by decides as, or "" when it decides nothing.
func approverRole(by api.Actor) string {
	switch by.Role {
	case api.RoleOperator:
		return api.RoleOperator
	case api.RoleAgencyAdmin:
		return api.RoleAgencyAdmin
	}
	return ""
}

// Decide approves (or rejects) request id for by. An approval counts for the role by
// holds, once, if the request asks for it; when every role asked has approved, the
// restore is queued. A rejection ends the request: an approver's, or the requester's
// own (withdrawing it); it needs a comment.
func (s service) Decide(id uint64, approve bool, dr api.DecisionRequest, by api.Actor) (api.Request, error) {
	d := s.d
	if err := d.passive(""); err != nil {
		return api.Request{}, wireErr(err)
	}
	comment := strings.TrimSpace(dr.Comment)
	switch {
	case len(comment) > maxComment:
		return api.Request{}, fmt.Errorf("%w: the comment is longer than %d bytes", errBadRequest, maxComment)
	case !approve && comment == "":
		return api.Request{}, fmt.Errorf("%w: a rejection needs a comment saying why", errBadRequest)
	}
	now := d.now()
	var complete, lapsed bool
	r, err := d.cat.UpdateRequest(id, func(r *catalog.Request) error {
		if by.Agency != "" && r.Agency != by.Agency {
			return noRequest(id)
		}
		if lapse(r, now) {
			lapsed = true
			return nil // recorded as expired; answered below
		}
		if r.Status != catalog.RequestPending {
			return server.Conflict(fmt.Errorf("request %d is %s: it takes no more decisions", id, r.Status))
		}
		role := approverRole(by)
		own := by.Name == r.Requester
		switch {
		case approve && own:
			return server.Forbidden(fmt.Errorf("request %d was made by %s: a requester never approves its own request", id, by.Name))
		case !approve && own:
			role = "requester" // withdrawn
		case role == "":
			return server.Forbidden(fmt.Errorf("role %q does not decide requests (approvers: %s)", by.Role, strings.Join(r.Approvers, ", ")))
		case !slices.Contains(r.Approvers, role):
			return server.Forbidden(fmt.Errorf("request %d needs the approval of %s, not of an %s", id, strings.Join(r.Approvers, " and "), role))
		}
		for _, x := range r.Decisions {
			if x.By == by.Name {
				return server.Conflict(fmt.Errorf("request %d: %s decided already", id, by.Name))
			}
			if approve && x.Approve && x.Role == role {
				return server.Conflict(fmt.Errorf("request %d: %s approved it already as %s; it waits for %s", id, x.By, role, strings.Join(waiting(*r), " and ")))
			}
		}
		r.Decisions = append(r.Decisions, catalog.Decision{By: by.Name, Role: role, Approve: approve, Comment: comment, Time: now, Source: by.Source})
		switch {
		case !approve:
			r.Status, r.Decided = catalog.RequestRejected, now
		case len(waiting(*r)) == 0:
			r.Status, r.Decided = catalog.RequestApproved, now
			complete = true
		}
		return nil
	})
	switch {
	case errors.Is(err, catalog.ErrNoRequest):
		return api.Request{}, noRequest(id)
	case err != nil:
		return api.Request{}, err
	case lapsed:
		return api.Request{}, server.Conflict(fmt.Errorf("request %d expired at %s: nobody decided in time; ask again", id, r.Expires.In(d.conf().sched.Loc()).Format(time.RFC3339)))
	}
	verdict := "rejected"
	if approve {
		verdict = "approved"
	}
	d.log.Info("request "+verdict, "request", id, "by", by.Name, "role", by.Role, "status", r.Status)
	if complete {
		r = d.carryOut(r)
	}
	return s.requestInfo(r), nil
}

// carryOut queues the run of an approved request and records it on the request (or
// why it could not be queued).
func (d *Daemon) carryOut(r catalog.Request) catalog.Request {
	reason := fmt.Sprintf("request %d", r.ID)
	if r.Ticket != "" {
		reason += " (ticket " + r.Ticket + ")"
	}
	var run catalog.Run
	var err error
	if r.Kind == catalog.RequestExport {
		run, err = d.export(r, reason) // exports.go
	} else {
		run, err = d.restore(RestoreRequest{Target: r.Target, Snapshot: r.Snapshot, DRC: r.DRC, To: r.To,
			Force: r.Force, Include: r.Include, Options: r.Options}, reason)
	}
	out, uerr := d.cat.UpdateRequest(r.ID, func(x *catalog.Request) error {
		if err != nil {
			x.Status, x.Error = catalog.RequestFailed, err.Error()
			return nil
		}
		x.Run = run.ID
		return nil
	})
	if uerr != nil {
		d.log.Error("request: recording its run", "request", r.ID, "run", run.ID, "err", uerr)
		r.Run = run.ID
		return r
	}
	if err != nil {
		d.log.Warn("approved request could not be queued", "request", r.ID, "err", err)
	} else {
		d.log.Info("approved request queued", "request", r.ID, "run", run.ID)
	}
	return out
}

// failUnqueued marks failed the approved requests without a run: the daemon stopped
// between the last approval and the queueing of the run. They are asked again, not
// run by surprise later.
func (d *Daemon) failUnqueued() error {
	if err := d.resetServing(); err != nil { // exports.go
		return err
	}
	rs, err := d.cat.Requests(func(r catalog.Request) bool { return r.Status == catalog.RequestApproved && r.Run == 0 })
	if err != nil {
		return err
	}
	for _, r := range rs {
		if _, err := d.cat.UpdateRequest(r.ID, func(x *catalog.Request) error {
			x.Status, x.Error = catalog.RequestFailed, "the daemon stopped before the approved run was queued: ask again"
			return nil
		}); err != nil {
			return err
		}
		d.log.Warn("approved request left without its run", "request", r.ID)
	}
	return nil
}

// waiting returns the approver roles that have not approved r yet.
func waiting(r catalog.Request) []string {
	out := []string{}
	for _, role := range r.Approvers {
		if !slices.ContainsFunc(r.Decisions, func(x catalog.Decision) bool { return x.Approve && x.Role == role }) {
			out = append(out, role)
		}
	}
	return out
}

// requestInfo is r on the wire, with its run's state.
func (s service) requestInfo(r catalog.Request) api.Request {
	lapse(&r, s.d.now())
	out := api.Request{ID: r.ID, Kind: r.Kind, Agency: r.Agency, Target: r.Target,
		Requester: r.Requester, RequesterRole: r.RequesterRole, Ticket: r.Ticket,
		Snapshot: r.Snapshot, DRC: r.DRC, To: r.To, Force: r.Force, Include: r.Include, Options: r.Options,
		Created: r.Created, Expires: r.Expires, Approvers: r.Approvers, Decisions: []api.Decision{},
		Waiting: []string{}, Status: r.Status, Decided: r.Decided, Run: r.Run, Error: r.Error,
		Paths: r.Paths, Recipients: r.Recipients, SingleUse: r.SingleUse}
	if b := r.Bundle; b != nil {
		out.Bundle = &api.Bundle{Link: fmt.Sprintf("/v1/exports/%d/download", r.ID), Bytes: b.Bytes, PlainBytes: b.PlainBytes,
			Files: b.Files, SHA256: b.SHA256, Ready: b.Ready, Expires: b.Expires, Downloads: []api.Download{},
			Deleted: b.Deleted, DeletedWhy: b.DeletedWhy}
		for _, x := range b.Downloads {
			out.Bundle.Downloads = append(out.Bundle.Downloads, api.Download{Time: x.Time, By: x.By, Role: x.Role})
		}
		if len(b.Downloads) > 0 {
			out.Bundle.Handover = fmt.Sprintf("/v1/exports/%d/handover", r.ID)
		}
	}
	for _, x := range r.Decisions {
		out.Decisions = append(out.Decisions, api.Decision{By: x.By, Role: x.Role, Approve: x.Approve, Comment: x.Comment, Time: x.Time})
	}
	if r.Status == catalog.RequestPending {
		out.Waiting = waiting(r)
	}
	if r.Run != 0 {
		if run, err := s.Run(r.Run); err == nil {
			out.RunState = string(run.Status)
		}
	}
	return out
}

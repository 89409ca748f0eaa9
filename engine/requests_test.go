package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/server"
)

// The approval rules of an agency's requests, on requests made on the catalog (the
// stub kind takes no restore destinations; e2e/requests_test.go makes them through
// the API with real restic and PostgreSQL).
func TestRequestApprovals(t *testing.T) {
	d, clk := startedDaemon(t, `drcs:
  - {name: local, role: primary, path: $DIR/local}
agencies:
  - {id: dinkes, name: Dinas Kesehatan}
  - {id: disdik, name: Dinas Pendidikan, approval: [agency-admin]}
targets:
  - {name: sehat, agency: dinkes, kind: stub, stub: {}}
  - {name: sekolah, agency: disdik, kind: stub, stub: {}}
`)
	s := svc(d)
	newRequest := func(target, agency string) uint64 {
		t.Helper()
		now := d.now()
		r := &catalog.Request{Kind: catalog.RequestRestore, Agency: agency, Target: target, Requester: "token:req-" + agency,
			RequesterRole: "agency-requester", Snapshot: "latest", DRC: "local", To: t.TempDir(),
			Approvers: agencyConfig(d.conf().cfg, agency).Approvers(), Status: catalog.RequestPending,
			Created: now, Expires: now.Add(requestLifetime)}
		if err := d.cat.AddRequest(r); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	requester := api.Actor{Name: "token:req-dinkes", Role: "agency-requester", Agency: "dinkes"}
	admin := api.Actor{Name: "token:admin-dinkes", Role: "agency-admin", Agency: "dinkes"}
	admin2 := api.Actor{Name: "token:admin2-dinkes", Role: "agency-admin", Agency: "dinkes"}
	otherAdmin := api.Actor{Name: "token:admin-disdik", Role: "agency-admin", Agency: "disdik"}
	viewer := api.Actor{Name: "token:view-dinkes", Role: "agency-viewer", Agency: "dinkes"}
	operator := api.Actor{Name: "uid:0", Role: "operator"}
	ok := api.DecisionRequest{Comment: "sesuai tiket"}
	status := func(err error) int {
		if err == nil {
			return 200
		}
		return server.StatusOf(err)
	}

	id := newRequest("sehat", "dinkes")
	if r, err := s.Request(id, "dinkes"); err != nil || r.Status != "pending" || strings.Join(r.Waiting, ",") != "agency-admin,operator" {
		t.Fatalf("new request: %+v %v", r, err)
	}
	// The requester never approves its own; a viewer and another agency's admin decide nothing.
	for _, c := range []struct {
		who  api.Actor
		want int
	}{{requester, 403}, {viewer, 403}, {otherAdmin, 404}} {
		if _, err := s.Decide(id, true, ok, c.who); status(err) != c.want {
			t.Errorf("%s approves: %v, want %d", c.who.Name, err, c.want)
		}
	}
	// One approval is not enough when two are asked; the same role twice counts once.
	r, err := s.Decide(id, true, ok, admin)
	if err != nil || r.Status != "pending" || strings.Join(r.Waiting, ",") != "operator" || r.Run != 0 {
		t.Fatalf("after the agency's admin: %+v %v", r, err)
	}
	if _, err := s.Decide(id, true, ok, admin2); status(err) != 409 {
		t.Errorf("a second agency admin approves: %v, want 409 (it waits for an operator)", err)
	}
	if _, err := s.Decide(id, true, ok, admin); status(err) != 409 {
		t.Errorf("the same admin approves again: %v, want 409", err)
	}
	r, err = s.Decide(id, true, api.DecisionRequest{}, operator)
	if err != nil || r.Status != "approved" || r.Run == 0 || len(r.Decisions) != 2 {
		t.Fatalf("after the operator: %+v %v", r, err)
	}
	run, err := d.cat.Run(r.Run)
	if err != nil || run.Op != "restore" || run.Target != "sehat" || !strings.Contains(run.Reason, "request "+itoa(id)) {
		t.Fatalf("the approved request's run: %+v %v", run, err)
	}
	if _, err := s.Decide(id, false, ok, operator); status(err) != 409 {
		t.Errorf("a decided request rejected: %v, want 409", err)
	}

	// A rejected request never runs; a rejection needs a comment.
	id = newRequest("sehat", "dinkes")
	if _, err := s.Decide(id, false, api.DecisionRequest{}, operator); status(err) != 400 {
		t.Errorf("a rejection without a comment: %v, want 400", err)
	}
	if r, err := s.Decide(id, false, api.DecisionRequest{Comment: "tujuan salah"}, operator); err != nil || r.Status != "rejected" {
		t.Fatalf("rejected: %+v %v", r, err)
	}
	if r, err := s.Decide(id, true, ok, admin); status(err) != 409 || r.Run != 0 {
		t.Errorf("approving a rejected request: %+v %v, want 409", r, err)
	}
	// The requester may withdraw its own.
	id = newRequest("sehat", "dinkes")
	if r, err := s.Decide(id, false, api.DecisionRequest{Comment: "tidak jadi"}, requester); err != nil || r.Status != "rejected" || r.Decisions[0].Role != "requester" {
		t.Errorf("withdrawn: %+v %v", r, err)
	}

	// An agency whose policy is its admin alone: the operator is not asked.
	id = newRequest("sekolah", "disdik")
	if _, err := s.Decide(id, true, ok, operator); status(err) != 403 {
		t.Errorf("an operator approves a request that asks only the agency's admin: %v, want 403", err)
	}
	if r, err := s.Decide(id, true, ok, otherAdmin); err != nil || r.Status != "approved" || r.Run == 0 {
		t.Errorf("disdik's admin approves: %+v %v", r, err)
	}

	// An admin's own request needs another admin: its requester never approves it.
	id = newRequest("sehat", "dinkes")
	if _, err := d.cat.UpdateRequest(id, func(r *catalog.Request) error {
		r.Requester, r.RequesterRole = admin.Name, admin.Role
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Decide(id, true, ok, admin); status(err) != 403 {
		t.Errorf("an admin approves its own request: %v, want 403", err)
	}
	if r, err := s.Decide(id, true, ok, admin2); err != nil || strings.Join(r.Waiting, ",") != "operator" {
		t.Errorf("another admin approves: %+v %v", r, err)
	}
	if _, err := s.Decide(id, false, api.DecisionRequest{Comment: "batal"}, admin); err != nil {
		t.Errorf("an admin withdraws its own request: %v", err)
	}

	// Nobody decides in time: the request lapses and never runs.
	id = newRequest("sehat", "dinkes")
	clk.Add(requestLifetime + time.Minute)
	if _, err := s.Decide(id, true, ok, admin); status(err) != 409 {
		t.Errorf("approving an expired request: %v, want 409", err)
	}
	if r, err := d.cat.Request(id); err != nil || r.Status != "expired" || r.Run != 0 {
		t.Errorf("expired request: %+v %v", r, err)
	}
	// Lists: an agency's own only; by status.
	if rs, err := s.Requests("disdik", ""); err != nil || len(rs) != 1 || rs[0].Agency != "disdik" {
		t.Errorf("disdik's requests: %+v %v", rs, err)
	}
	if rs, err := s.Requests("", "expired"); err != nil || len(rs) != 1 {
		t.Errorf("expired requests: %+v %v", rs, err)
	}
	if _, err := s.Requests("", "bogus"); status(err) != 400 {
		t.Errorf("an unknown status: %v, want 400", err)
	}
	if _, err := s.Request(id, "disdik"); status(err) != 404 {
		t.Errorf("another agency's request: %v, want 404", err)
	}
}

// The destination policy of agencies' restores (api.restore_destinations).
func TestCheckDestination(t *testing.T) {
	dir := t.TempDir()
	allowed := filepath.Join(dir, "restore")
	outside := filepath.Join(dir, "etc")
	for _, p := range []string{allowed, outside} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(allowed, "escape")); err != nil {
		t.Fatal(err)
	}
	files := &config.Target{Name: "web", Kind: "files", API: config.TargetAPI{RestoreDestinations: []string{allowed}}}
	pg := &config.Target{Name: "simpus", Kind: "postgres", API: config.TargetAPI{RestoreDestinations: []string{"simpus_restore_*"}}}
	vm := &config.Target{Name: "web01", Kind: "libvirt", API: config.TargetAPI{RestoreDestinations: []string{allowed, "web01-restored-"}}}
	none := &config.Target{Name: "arsip", Kind: "files"}
	for _, c := range []struct {
		t    *config.Target
		to   string
		opts map[string]string
		ok   bool
	}{
		{files, allowed, nil, true},
		{files, allowed + "/2026-12-02", nil, true},
		{files, allowed + "2", nil, false},
		{files, allowed + "/../etc", nil, false},
		{files, allowed + "/escape/x", nil, false}, // a link out of the folder
		{files, "relative/path", nil, false},
		{files, "/", nil, false},
		{none, allowed, nil, false},
		{pg, "postgres:///simpus_restore_1", nil, true},
		{pg, "postgresql:///simpus_restore_x", nil, true},
		{pg, "postgres:///simpus", nil, false},
		{pg, "postgres://other-host/simpus_restore_1", nil, false},
		{pg, "postgres:///simpus_restore_1?user=postgres", nil, false},
		{pg, "postgres://admin@/simpus_restore_1", nil, false},
		{pg, "/tmp/simpus.pgc", nil, false},
		{pg, "mysql:///simpus_restore_1", nil, false},
		{vm, allowed + "/web01-restored-a", map[string]string{"define": "web01-restored-a"}, true},
		{vm, allowed + "/web01-restored-a", map[string]string{"define": "web01"}, false},
		{vm, allowed + "/web01-restored-a", nil, false},
		{vm, outside, map[string]string{"define": "web01-restored-a"}, false},
	} {
		err := checkDestination(c.t, RestoreRequest{Target: c.t.Name, To: c.to, Options: c.opts})
		if (err == nil) != c.ok {
			t.Errorf("%s to %q %v: %v, want allowed=%v", c.t.Name, c.to, c.opts, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), c.t.Name) {
			t.Errorf("%s to %q: the error does not name the target: %v", c.t.Name, c.to, err)
		}
	}
}

// Expired bundles are deleted from their DRC by the sweep, and recorded so; a bundle
// still valid stays.
func TestExportSweep(t *testing.T) {
	d, clk := startedDaemon(t, twoAgencies)
	site, err := d.sites.site("")
	if err != nil {
		t.Fatal(err)
	}
	now := d.now()
	var ids []uint64
	for _, life := range []time.Duration{time.Hour, 48 * time.Hour} {
		r := &catalog.Request{Kind: catalog.RequestExport, Agency: "dinkes", Target: "sehat", Status: catalog.RequestApproved,
			Created: now, Expires: now.Add(requestLifetime)}
		if err := d.cat.AddRequest(r); err != nil {
			t.Fatal(err)
		}
		obj := exportObject("dinkes", r.ID)
		if err := site.Store.Put(t.Context(), obj, strings.NewReader("ciphertext"), 10); err != nil {
			t.Fatal(err)
		}
		if _, err := d.cat.UpdateRequest(r.ID, func(x *catalog.Request) error {
			x.Bundle = &catalog.Bundle{DRC: site.Name, Object: obj, Bytes: 10, Ready: now, Expires: now.Add(life)}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	clk.Add(2 * time.Hour)
	d.sweepExports(t.Context())
	for i, id := range ids {
		r, err := d.cat.Request(id)
		if err != nil {
			t.Fatal(err)
		}
		_, serr := site.Store.Stat(t.Context(), r.Bundle.Object)
		gone := serr != nil
		if wantGone := i == 0; gone != wantGone || (r.Bundle.Deleted.IsZero() == wantGone) {
			t.Errorf("bundle %d: deleted at the DRC %v (%v), recorded %v %q; want deleted %v", id, gone, serr, r.Bundle.Deleted, r.Bundle.DeletedWhy, wantGone)
		}
	}
}

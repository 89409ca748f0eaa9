package engine

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/server"
)

const twoAgencies = `drcs:
  - {name: local, role: primary, path: $DIR/local}
agencies: [{id: dinkes, name: Dinas Kesehatan}, {id: disdik, name: Dinas Pendidikan}]
targets:
  - {name: sehat, agency: dinkes, kind: stub, stub: {}}
  - {name: sekolah, agency: disdik, kind: stub, stub: {}}
`

// Isolation: EVERY route of the network API, walked with agency A's tokens (each
// agency role, and the portal acting for A) against agency B's objects. A route the
// agencies are not served answers 403; an agency route answers B's object exactly
// like an object that does not exist (same status, same body), and lists hold none of
// B's objects. A new route of the API fails this test until it is in the table.
func TestIsolationEveryRoute(t *testing.T) {
	d, _ := startedDaemon(t, twoAgencies)
	h := server.NewNetwork(service{d}, secrets{
		"op":        {Name: "token:ops", Role: "operator"},
		"a-admin":   {Name: "token:a-admin", Role: "agency-admin", Agency: "dinkes"},
		"a-request": {Name: "token:a-request", Role: "agency-requester", Agency: "dinkes"},
		"a-view":    {Name: "token:a-view", Role: "agency-viewer", Agency: "dinkes"},
		"portal":    {Name: "token:portal", Role: "portal"},
	}, d.log)
	call := func(method, path, secret, body string) (int, string) {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.RemoteAddr = "198.51.100.7:4000"
		req.Header.Set("Authorization", "Bearer "+secret)
		if secret == "portal" {
			req.Header.Set(api.OnBehalfOfHeader, "dinkes")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	// B's objects: a run of B's target (queued by the operator), and A's own.
	code, body := call("POST", "/v1/backups", "op", `{"target":"sekolah"}`)
	var bRun api.RunInfo
	if code != 202 || json.Unmarshal([]byte(body), &bRun) != nil || bRun.Agency != "disdik" {
		t.Fatalf("operator backup of B's target: %d %s", code, body)
	}

	// A drill of each agency (records only: the report route checks its agency first).
	aDrill := &catalog.Run{Op: "drill", Target: "sehat", Agency: "dinkes", Kind: "stub", DRC: "local", Status: catalog.Succeeded}
	bDrill := &catalog.Run{Op: "drill", Target: "sekolah", Agency: "disdik", Kind: "stub", DRC: "local", Status: catalog.Succeeded}
	for _, r := range []*catalog.Run{aDrill, bDrill} {
		if err := d.cat.AddRun(r); err != nil {
			t.Fatal(err)
		}
	}

	// A restore request of B's (made on the catalog: a stub target takes none).
	bReq := &catalog.Request{Kind: catalog.RequestRestore, Agency: "disdik", Target: "sekolah", Requester: "token:b",
		Status: catalog.RequestPending, Approvers: []string{"agency-admin", "operator"}, Created: d.now(), Expires: d.now().Add(time.Hour)}
	if err := d.cat.AddRequest(bReq); err != nil {
		t.Fatal(err)
	}
	reqB := "/v1/requests/" + itoa(bReq.ID)
	// An export of B's, made and downloaded (its bundle and hand-over exist).
	bExp := &catalog.Request{Kind: catalog.RequestExport, Agency: "disdik", Target: "sekolah", Requester: "token:b",
		Status: catalog.RequestApproved, Approvers: []string{"operator"}, Created: d.now(), Expires: d.now().Add(time.Hour),
		Recipients: []string{"age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"},
		Bundle: &catalog.Bundle{DRC: "local", Object: "_exports/disdik/2.tar.zst.age", Bytes: 1, SHA256: strings.Repeat("ab", 32),
			Ready: d.now(), Expires: d.now().Add(time.Hour), Downloads: []catalog.Download{{Time: d.now(), By: "token:b", Role: "agency-admin"}}}}
	if err := d.cat.AddRequest(bExp); err != nil {
		t.Fatal(err)
	}
	expB := "/v1/exports/" + itoa(bExp.ID)

	// Each route of the whole API: a request against B's object, and the same against
	// an object that does not exist ("" when the route has no object). Agency routes
	// (server.AgencyRoutes) must answer both alike; the others 403.
	type probe struct{ method, foreign, missing, body, missingBody string }
	runB := "/v1/runs/" + itoa(bRun.ID)
	table := map[string]probe{
		"GET /v1/status":                      {"GET", "/v1/status", "", "", ""},
		"GET /v1/targets":                     {"GET", "/v1/targets", "", "", ""},
		"POST /v1/backups":                    {"POST", "/v1/backups", "/v1/backups", `{"target":"sekolah"}`, `{"target":"sekolah"}`},
		"POST /v1/restores":                   {"POST", "/v1/restores", "/v1/restores", `{"target":"sekolah","snapshot":"latest","to":"/tmp/x"}`, `{"target":"sekolah","snapshot":"latest","to":"/tmp/x"}`},
		"GET /v1/requests":                    {"GET", "/v1/requests?agency=disdik", "", "", ""},
		"POST /v1/exports":                    {"POST", "/v1/exports", "/v1/exports", `{"target":"sekolah","recipients":["age1x"]}`, `{"target":"sekolah","recipients":["age1x"]}`},
		"GET /v1/exports/{id}/download":       {"GET", expB + "/download", "/v1/exports/999999/download", "", ""},
		"GET /v1/exports/{id}/handover":       {"GET", expB + "/handover", "/v1/exports/999999/handover", "", ""},
		"GET /v1/requests/{id}":               {"GET", reqB, "/v1/requests/999999", "", ""},
		"POST /v1/requests/{id}/approve":      {"POST", reqB + "/approve", "/v1/requests/999999/approve", `{"comment":"ok"}`, `{"comment":"ok"}`},
		"POST /v1/requests/{id}/reject":       {"POST", reqB + "/reject", "/v1/requests/999999/reject", `{"comment":"no"}`, `{"comment":"no"}`},
		"GET /v1/runs":                        {"GET", "/v1/runs?target=sekolah", "/v1/runs?target=sekolah", "", ""},
		"GET /v1/runs/{id}":                   {"GET", runB, "/v1/runs/999999", "", ""},
		"POST /v1/runs/{id}/cancel":           {"POST", runB + "/cancel", "", "", ""},
		"GET /v1/snapshots":                   {"GET", "/v1/snapshots?target=sekolah", "/v1/snapshots?target=sekolah", "", ""},
		"GET /v1/ls":                          {"GET", "/v1/ls?target=sekolah&snapshot=latest", "", "", ""},
		"GET /v1/schedule":                    {"GET", "/v1/schedule", "", "", ""},
		"POST /v1/forget":                     {"POST", "/v1/forget", "", `{"target":"sekolah"}`, ""},
		"POST /v1/prune":                      {"POST", "/v1/prune", "", `{"agency":"disdik"}`, ""},
		"POST /v1/check":                      {"POST", "/v1/check", "", `{"agency":"disdik"}`, ""},
		"POST /v1/unlock":                     {"POST", "/v1/unlock", "", `{"agency":"disdik"}`, ""},
		"POST /v1/restic":                     {"POST", "/v1/restic", "", `{"agency":"disdik","args":["snapshots"]}`, ""},
		"POST /v1/reload":                     {"POST", "/v1/reload", "", "", ""},
		"GET /v1/drcs":                        {"GET", "/v1/drcs", "", "", ""},
		"POST /v1/replicate":                  {"POST", "/v1/replicate", "", `{"agency":"disdik"}`, ""},
		"POST /v1/verify":                     {"POST", "/v1/verify", "", `{"drc":"local"}`, ""},
		"GET /v1/alarms":                      {"GET", "/v1/alarms", "", "", ""},
		"GET /v1/damage":                      {"GET", "/v1/damage?agency=disdik", "", "", ""},
		"POST /v1/repair":                     {"POST", "/v1/repair", "", `{"agency":"disdik"}`, ""},
		"POST /v1/recover":                    {"POST", "/v1/recover", "", `{"drc":"local","agency":"disdik"}`, ""},
		"POST /v1/drills":                     {"POST", "/v1/drills", "", `{"target":"sekolah"}`, ""},
		"GET /v1/reports/drill/{id}":          {"GET", "/v1/reports/drill/" + itoa(bDrill.ID), "/v1/reports/drill/999999", "", ""},
		"GET /v1/reports/period":              {"GET", "/v1/reports/period?from=2026-11-01&to=2026-11-30", "", "", ""},
		"GET /v1/audit":                       {"GET", "/v1/audit?agency=disdik", "", "", ""},
		"GET /v1/reports/runbook/{id}":        {"GET", "/v1/reports/runbook/1", "", "", ""},
		"GET /v1/runbooks":                    {"GET", "/v1/runbooks", "", "", ""},
		"GET /v1/runbooks/{name}/plan":        {"GET", "/v1/runbooks/x/plan", "", "", ""},
		"POST /v1/runbook-runs":               {"POST", "/v1/runbook-runs", "", `{"runbook":"x","mode":"test"}`, ""},
		"GET /v1/runbook-runs/{id}":           {"GET", "/v1/runbook-runs/1", "", "", ""},
		"POST /v1/runbook-runs/{id}/approve":  {"POST", "/v1/runbook-runs/1/approve", "", `{"step":"x"}`, ""},
		"POST /v1/runbook-runs/{id}/abort":    {"POST", "/v1/runbook-runs/1/abort", "", "", ""},
		"POST /v1/runbook-runs/{id}/continue": {"POST", "/v1/runbook-runs/1/continue", "", "", ""},
		"GET /v1/audit/verify":                {"GET", "/v1/audit/verify", "", "", ""},
		"GET /v1/state":                       {"GET", "/v1/state", "", "", ""},
		"GET /metrics":                        {"GET", "/metrics", "", "", ""},
		"POST /v1/notify/test":                {"POST", "/v1/notify/test", "", `{"channel":"x"}`, ""},
		"POST /v1/tokens":                     {"POST", "/v1/tokens", "", `{"name":"x","role":"operator"}`, ""},
		"GET /v1/tokens":                      {"GET", "/v1/tokens", "", "", ""},
		"GET /v1/openapi.json":                {"GET", "/v1/openapi.json", "", "", ""},
		"POST /v1/tokens/{name}/revoke":       {"POST", "/v1/tokens/ops/revoke", "", "", ""},
		"POST /v1/takeover":                   {"POST", "/v1/takeover", "", `{"confirm":"main"}`, ""},
		"POST /v1/handback":                   {"POST", "/v1/handback", "", `{"confirm":"main"}`, ""},
	}
	for _, route := range server.Routes() {
		if _, ok := table[route]; !ok {
			t.Errorf("route %s is not in the isolation table: add it", route)
		}
	}
	for route := range table {
		if !slices.Contains(server.Routes(), route) {
			t.Errorf("the isolation table has %s, which the API does not serve", route)
		}
	}
	for route, p := range table {
		served := slices.Contains(server.AgencyRoutes, route)
		for _, tok := range []string{"a-admin", "a-request", "a-view", "portal"} {
			code, body := call(p.method, p.foreign, tok, p.body)
			// A's own audit entries name what A asked for (B's target among them);
			// every other answer names none of B's objects.
			if strings.Contains(body, "sekolah") && code < 300 && route != "GET /v1/audit" || strings.Contains(body, `"disdik"`) {
				t.Errorf("%s with %s: B's object in the answer: %d %.300s", route, tok, code, body)
			}
			switch {
			case !served:
				if code != 403 {
					t.Errorf("%s with %s: %d %s, want 403 (not an agency route)", route, tok, code, body)
				}
			case p.missing != "":
				if tok == "a-view" && (p.method == "POST" || strings.HasSuffix(route, "/download")) {
					if code != 403 {
						t.Errorf("%s with a viewer: %d, want 403", route, code)
					}
					continue
				}
				// B's object is answered like a missing one.
				mcode, mbody := call(p.method, strings.ReplaceAll(p.missing, "sekolah", "tidak-ada"), tok, strings.ReplaceAll(p.missingBody, "sekolah", "tidak-ada"))
				if code != 404 || mcode != 404 || strings.ReplaceAll(mbody, "tidak-ada", "sekolah") != body && !strings.Contains(p.missing, "999999") {
					t.Errorf("%s with %s: foreign %d %s, missing %d %s: want the same 404", route, tok, code, body, mcode, mbody)
				}
				foreignID := itoa(bRun.ID)
				if strings.Contains(route, "drill") {
					foreignID = itoa(bDrill.ID)
				}
				if strings.Contains(route, "requests") {
					foreignID = itoa(bReq.ID)
				}
				if strings.Contains(route, "exports/") {
					foreignID = itoa(bExp.ID)
				}
				if strings.Contains(p.missing, "999999") && strings.ReplaceAll(mbody, "999999", foreignID) != body {
					t.Errorf("%s with %s: foreign %s, missing %s: want the same answer", route, tok, body, mbody)
				}
			default:
				if code != 200 {
					t.Errorf("%s with %s: %d %s", route, tok, code, body)
				}
			}
		}
	}
	// A's own objects are served.
	if code, body := call("GET", "/v1/reports/drill/"+itoa(aDrill.ID), "a-view", ""); code == 404 || code == 403 {
		t.Errorf("A's viewer asks for A's drill report: %d %s", code, body)
	}
	if code, body := call("POST", "/v1/backups", "a-request", `{"target":"sehat"}`); code != 202 {
		t.Errorf("A's requester backs up A's target: %d %s", code, body)
	}
	if code, body := call("GET", "/v1/targets", "portal", ""); code != 200 || !strings.Contains(body, "sehat") {
		t.Errorf("the portal lists A's targets: %d %s", code, body)
	}
	// B's request is untouched by all of the above.
	if r, err := d.cat.Request(bReq.ID); err != nil || r.Status != catalog.RequestPending || len(r.Decisions) != 0 {
		t.Errorf("B's request after A's probes: %+v %v", r, err)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

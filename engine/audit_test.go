package engine

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cadang/cadang/engine/api"
)

// Every call that changes something is recorded once by the API's middleware, refused
// or not, with what the daemon knows of its agency; reads of records are not.
func TestAuditRecordsCalls(t *testing.T) {
	d, clk := startedDaemon(t, reportConfig)
	h := d.handler()
	call := func(method, path, body string, hdr ...string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := call("POST", "/v1/backups", `{"target":"t1"}`, api.TicketHeader, "EL-2026-0042"); rec.Code != http.StatusAccepted {
		t.Fatalf("backup: %d %s", rec.Code, rec.Body)
	}
	if rec := call("POST", "/v1/backups", `{"target":"nope"}`); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown target: %d %s", rec.Code, rec.Body)
	}
	if rec := call("POST", "/v1/backups", `{"target":"t1","extra":1}`); rec.Code != http.StatusBadRequest {
		t.Fatalf("unknown field: %d %s", rec.Code, rec.Body)
	}
	huge := `{"target":"` + strings.Repeat("x", 2<<20) + `"}`
	if rec := call("POST", "/v1/backups", huge); rec.Code != http.StatusBadRequest {
		t.Fatalf("huge body: %d", rec.Code)
	}
	if rec := call("POST", "/v1/runs/1/cancel", ""); rec.Code != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
	}
	if rec := call("DELETE", "/v1/audit", ""); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE /v1/audit: %d", rec.Code)
	}
	for _, p := range []string{"/v1/status", "/v1/runs", "/v1/targets"} {
		call("GET", p, "")
	}

	rec := call("GET", "/v1/audit?limit=0", "")
	var got []api.AuditEntry
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/audit: %d %s", rec.Code, rec.Body)
	}
	type row struct {
		Action, Object, Agency, Ticket, Result string
		Status                                 int
	}
	want := []row{
		{"DELETE /v1/audit", "", "", "", "Method Not Allowed", 405},
		{"POST /v1/runs/{id}/cancel", "run 1", "dinkes", "", "ok", 202},
		{"POST /v1/backups", "", "", "", "bad request: http: request body too large", 400},
		{"POST /v1/backups", "t1", "dinkes", "", `bad request: json: unknown field "extra"`, 400},
		{"POST /v1/backups", "nope", "", "", `unknown target "nope"`, 404},
		{"POST /v1/backups", "t1", "dinkes", "EL-2026-0042", "ok", 202},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, e := range got {
		g := row{e.Action, e.Object, e.Agency, e.Ticket, e.Result, e.Status}
		if !strings.HasPrefix(g.Result, want[i].Result) {
			t.Errorf("entry %d result %q, want %q...", e.Seq, g.Result, want[i].Result)
		}
		g.Result = want[i].Result
		if g != want[i] {
			t.Errorf("entry %d = %+v, want %+v", e.Seq, g, want[i])
		}
		if e.Seq != uint64(len(got)-i) || e.Principal != "unknown" || e.Source != "192.0.2.1:1234" || !e.Time.Equal(clk.Now()) {
			t.Errorf("entry %+v", e)
		}
	}

	rec = call("GET", "/v1/audit/verify", "")
	var v api.AuditVerification
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || !v.Intact || v.Checked != 6 || v.HeadSeq != 6 || v.Head != got[0].Hash {
		t.Fatalf("verify: %d %s", rec.Code, rec.Body)
	}
	rec = call("GET", "/v1/audit?agency=dinkes&since=2026-12-01&limit=1", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got) != 1 || got[0].Seq != 5 {
		t.Fatalf("filtered: %d %s", rec.Code, rec.Body)
	}
	if rec := call("GET", "/v1/audit?since=yesterday", ""); rec.Code != http.StatusBadRequest {
		t.Fatalf("bad since: %d", rec.Code)
	}
}

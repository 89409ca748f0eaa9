package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/server"
)

// secrets is an Authenticator over a fixed table, to test the network layer's logic
// (the daemon's own, over the catalog's tokens, is tested end to end).
type secrets map[string]server.Principal

func (s secrets) Authenticate(secret string) (server.Principal, error) {
	if p, ok := s[secret]; ok {
		return p, nil
	}
	return server.Principal{}, errors.New("unknown token")
}

// The network layer authenticates every request, checks the role against the route
// before a handler runs, slows guessing and floods down, answers with stable error
// codes, and records every refusal in the audit log (a flood once).
func TestNetworkAuthAndRoles(t *testing.T) {
	d, clk := startedDaemon(t, reportConfig)
	h := server.NewNetwork(service{d}, secrets{
		"op":    {Name: "token:ops", Role: "operator"},
		"aud":   {Name: "token:bpk", Role: "auditor"},
		"agent": {Name: "token:dinkes-admin", Role: "agency-admin", Agency: "dinkes"},
		"flood": {Name: "token:flood", Role: "auditor"},
	}, d.log)
	call := func(addr, method, path, secret, body string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.RemoteAddr = addr
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	code := func(rec *httptest.ResponseRecorder) string {
		var e api.Error
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		return e.Code
	}
	const a = "198.51.100.7:4000"
	for _, tc := range []struct {
		method, path, secret, body string
		status                     int
		code                       string
	}{
		{"GET", "/v1/status", "", "", 401, "unauthenticated"},
		{"GET", "/v1/status", "wrong", "", 401, "invalid_token"},
		{"GET", "/v1/status", "op", "", 200, ""},
		{"POST", "/v1/backups", "op", `{"target":"t1"}`, 202, ""},
		{"GET", "/v1/tokens", "op", "", 403, "forbidden"},
		{"GET", "/v1/runs", "aud", "", 200, ""},
		{"GET", "/v1/audit", "aud", "", 200, ""},
		{"GET", "/v1/ls?target=t1&snapshot=latest", "aud", "", 403, "forbidden"},
		{"POST", "/v1/backups", "aud", `{"target":"t1"}`, 403, "forbidden"},
		{"GET", "/v1/runs", "agent", "", 200, ""},
		{"GET", "/v1/drcs", "agent", "", 403, "forbidden"},
	} {
		rec := call(a, tc.method, tc.path, tc.secret, tc.body)
		if rec.Code != tc.status || code(rec) != tc.code {
			t.Errorf("%s %s with %q: %d %s, want %d %s", tc.method, tc.path, tc.secret, rec.Code, rec.Body, tc.status, tc.code)
		}
	}

	// Guessing from one address: blocked after 10 failures (one above was the first),
	// even with a good token, for the rest of the minute; another address is not.
	const g = "203.0.113.9:5000"
	for i := range 10 {
		if rec := call(g, "GET", "/v1/status", fmt.Sprintf("guess-%d", i), ""); rec.Code != 401 {
			t.Fatalf("guess %d: %d", i, rec.Code)
		}
	}
	if rec := call(g, "GET", "/v1/status", "op", ""); rec.Code != 429 || code(rec) != "too_many_failures" {
		t.Errorf("a blocked address: %d %s", rec.Code, rec.Body)
	}
	if rec := call(a, "GET", "/v1/status", "op", ""); rec.Code != 200 {
		t.Errorf("another address: %d", rec.Code)
	}

	// A flood from one token: refused past the burst, recorded once.
	limited := 0
	for range 300 {
		if call(a, "GET", "/v1/targets", "flood", "").Code == 429 {
			limited++
		}
	}
	if limited == 0 {
		t.Error("300 requests at once were all served")
	}

	entries, err := d.cat.AuditEntries("", clk.Now().AddDate(0, 0, -1), 0)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range entries {
		count[fmt.Sprintf("%d %s %s", e.Status, e.Principal, e.Action)]++
	}
	for k, want := range map[string]int{
		"401 anonymous GET /v1/status":        12,
		"202 token:ops POST /v1/backups":      1,
		"403 token:ops GET /v1/tokens":        1,
		"403 token:bpk GET /v1/ls":            1,
		"403 token:bpk POST /v1/backups":      1,
		"403 token:dinkes-admin GET /v1/drcs": 1,
		"429 anonymous GET /v1/status":        1,
		"429 token:flood GET /v1/targets":     1,
	} {
		if count[k] != want {
			t.Errorf("audit: %d × %q, want %d (all: %v)", count[k], k, want, count)
		}
	}
}

// A portal retry with the same Idempotency-Key gets the first answer again, not a
// second run; the same key with another body is refused.
func TestIdempotencyKey(t *testing.T) {
	d, _ := startedDaemon(t, twoAgencies)
	h := server.NewNetwork(service{d}, secrets{"portal": {Name: "token:portal", Role: "portal"}}, d.log)
	post := func(key, body string) (int, api.RunInfo, string) {
		req := httptest.NewRequest("POST", "/v1/backups", strings.NewReader(body))
		req.RemoteAddr = "198.51.100.7:4000"
		req.Header.Set("Authorization", "Bearer portal")
		req.Header.Set(api.OnBehalfOfHeader, "dinkes")
		req.Header.Set(server.IdempotencyHeader, key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var ri api.RunInfo
		_ = json.Unmarshal(rec.Body.Bytes(), &ri)
		return rec.Code, ri, rec.Header().Get("Idempotent-Replayed")
	}
	c1, r1, _ := post("EL-42", `{"target":"sehat"}`)
	c2, r2, replayed := post("EL-42", `{"target":"sehat"}`)
	if c1 != 202 || c2 != 202 || r1.ID == 0 || r2.ID != r1.ID || replayed != "true" {
		t.Fatalf("retry: %d run %d, then %d run %d (replayed %q)", c1, r1.ID, c2, r2.ID, replayed)
	}
	if c, _, _ := post("EL-42", `{"target":"tidak-ada"}`); c != 422 {
		t.Errorf("the key with another body: %d, want 422", c)
	}
	c3, r3, _ := post("EL-43", `{"target":"sehat"}`)
	if c3 != 202 || r3.ID == r1.ID {
		t.Errorf("another key: %d run %d (first %d)", c3, r3.ID, r1.ID)
	}
	runs, err := d.cat.Runs(catalog.RunFilter{Target: "sehat"})
	if err != nil || len(runs) != 2 {
		t.Errorf("runs of the target: %d %v, want 2", len(runs), err)
	}
}

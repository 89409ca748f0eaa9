package engine

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/internal/testenv"
)

// The token routes: created once with its secret, listed without it, revoked; bad
// requests refused with their reason; and the secret found nowhere the daemon writes
// (its audit log, its log, its catalog), only in the one answer.
func TestTokenRoutes(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"local", "offsite"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	clk := &clock{t: wib("2026-12-01 10:17:00")}
	logs := &testenv.Buffer{}
	d, err := New(testConfig(t, dir, reportConfig), Options{Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.cat.Close()
	if err := d.startup(nil); err != nil {
		t.Fatal(err)
	}
	h := d.handler()
	call := func(method, path, body string) *httptest.ResponseRecorder {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		return rec
	}

	rec := call("POST", "/v1/tokens", `{"name":"dinkes-admin","role":"agency-admin","agency":"dinkes"}`)
	if rec.Code != http.StatusCreated || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	var created api.TokenCreated
	if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Token, "cdg_") || created.Name != "dinkes-admin" || created.Agency != "dinkes" ||
		!created.Expires.Equal(clk.Now().Add(90*24*time.Hour)) {
		t.Fatalf("created %+v", created)
	}
	tok, err := d.cat.TokenBySecret(created.Token, clk.Now())
	if err != nil || tok.Name != "dinkes-admin" || tok.Role != catalog.RoleAgencyAdmin {
		t.Fatalf("the catalog finds %+v, %v", tok, err)
	}
	if rec := call("POST", "/v1/tokens", `{"name":"ops","role":"operator","expires":"12h"}`); rec.Code != http.StatusCreated {
		t.Fatalf("create operator: %d %s", rec.Code, rec.Body)
	}

	for _, c := range []struct {
		body string
		code int
		want string
	}{
		{`{"name":"dinkes-admin","role":"agency-viewer","agency":"dinkes"}`, 409, "never reused"},
		{`{"name":"x","role":"agency-viewer","agency":"nope"}`, 400, `unknown agency "nope"`},
		{`{"name":"x","role":"agency-viewer"}`, 400, "acts for one agency"},
		{`{"name":"x","role":"operator","agency":"dinkes"}`, 400, "give no agency"},
		{`{"name":"x","role":"root"}`, 400, `role "root"`},
		{`{"name":"X Y","role":"auditor"}`, 400, `name "X Y"`},
		{`{"name":"x","role":"auditor","expires":"never"}`, 400, "invalid duration"},
		{`{"name":"x","role":"auditor","expires":"731d"}`, 400, "at most 730d"},
		{`{"name":"x","role":"auditor","expires":"0s"}`, 400, "a duration from now"},
		{`{"name":"x","role":"auditor","token":"cdg_mine"}`, 400, "unknown field"},
	} {
		rec := call("POST", "/v1/tokens", c.body)
		var e api.Error
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != c.code || !strings.Contains(e.Error, c.want) {
			t.Errorf("%s: %d %s, want %d %q", c.body, rec.Code, rec.Body, c.code, c.want)
		}
	}

	clk.t = clk.t.Add(13 * time.Hour) // ops has expired
	rec = call("POST", "/v1/tokens/dinkes-admin/revoke", "")
	var revoked api.TokenInfo
	if err := json.Unmarshal(rec.Body.Bytes(), &revoked); err != nil || rec.Code != http.StatusOK ||
		revoked.Status != "revoked" || !revoked.Revoked.Equal(clk.Now()) {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	if rec := call("POST", "/v1/tokens/nobody/revoke", ""); rec.Code != http.StatusNotFound {
		t.Fatalf("revoke unknown: %d %s", rec.Code, rec.Body)
	}
	rec = call("GET", "/v1/tokens", "")
	var list []api.TokenInfo
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != 2 {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	if list[0].Name != "dinkes-admin" || list[0].Status != "revoked" || list[1].Name != "ops" || list[1].Status != "expired" {
		t.Fatalf("list %+v", list)
	}
	if strings.Contains(rec.Body.String(), "hash") || strings.Contains(rec.Body.String(), "cdg_") {
		t.Fatalf("the list shows a hash or a secret: %s", rec.Body)
	}

	// The audit log: every POST, with the token's name as its object, never the secret.
	rec = call("GET", "/v1/audit?limit=0", "")
	var entries []api.AuditEntry
	if err := json.Unmarshal(rec.Body.Bytes(), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 14 {
		t.Fatalf("%d audit entries, want 14: %s", len(entries), rec.Body)
	}
	last, first := entries[1], entries[len(entries)-1]
	if first.Action != "POST /v1/tokens" || first.Object != "token dinkes-admin" || first.Agency != "dinkes" || first.Status != 201 ||
		last.Action != "POST /v1/tokens/{name}/revoke" || last.Object != "token dinkes-admin" || last.Status != 200 {
		t.Fatalf("audit entries %+v ... %+v", first, last)
	}
	secret := strings.TrimPrefix(created.Token, "cdg_")
	if strings.Contains(rec.Body.String(), secret) {
		t.Fatalf("the secret is in the audit log: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "dinkes-admin") || strings.Contains(logs.String(), secret) {
		t.Fatalf("the daemon's log holds the secret, or not the token's name:\n%s", logs)
	}
	path := d.cat.Path()
	if err := d.cat.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the secret is in the catalog file")
	}
}

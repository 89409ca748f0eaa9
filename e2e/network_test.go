package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// The network API over real TLS with real tokens: an operator token works on the
// API's routes; no token, a wrong one or a revoked one gets 401 with a stable code; an
// auditor reads the records and the audit log but changes nothing and reads no data;
// each refusal is in the audit log, under the principal that was refused.
func TestNetworkAPIWithTokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	src := filepath.Join(w.dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.RandomFile(t, filepath.Join(src, "a.bin"), 1<<20, 3)
	pki := testenv.NewTLSFiles(t, t.TempDir())
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	w.config(fmt.Sprintf("drcs:\n  - {name: local, role: primary, path: %q}\n", filepath.Join(w.dir, "local"))+fmt.Sprintf(oneTarget, src),
		fmt.Sprintf("api: {listen: %q, tls: {cert_file: %q, key_file: %q}}", addr, pki.ServerCert, pki.ServerKey))
	w.must("init")
	w.startDaemon()

	token := w.token
	ops, bpk := token("ops", "operator"), token("bpk", "auditor")
	call := newNetAPI(t, addr, pki).call

	errCode := func(body string) string {
		var e api.Error
		_ = json.Unmarshal([]byte(body), &e)
		return e.Code
	}
	if code, body := call("GET", "/v1/status", "", ""); code != 401 || errCode(body) != "unauthenticated" {
		t.Errorf("no token: %d %s", code, body)
	}
	if code, body := call("GET", "/v1/status", "cdg_not-a-token", ""); code != 401 || errCode(body) != "invalid_token" {
		t.Errorf("a wrong token: %d %s", code, body)
	}
	if code, body := call("GET", "/v1/status", ops, ""); code != 200 {
		t.Errorf("operator status: %d %s", code, body)
	}
	code, body := call("POST", "/v1/backups", ops, `{"target":"portal-files"}`)
	if code != 202 {
		t.Fatalf("operator backup: %d %s", code, body)
	}
	var run api.RunInfo
	mustJSON(t, body, &run)
	if code, body := call("POST", "/v1/backups", bpk, `{"target":"portal-files"}`); code != 403 || errCode(body) != "forbidden" {
		t.Errorf("auditor backup: %d %s", code, body)
	}
	if code, body := call("GET", fmt.Sprintf("/v1/runs/%d", run.ID), bpk, ""); code != 200 {
		t.Errorf("auditor reads a run: %d %s", code, body)
	}
	if code, body := call("GET", "/v1/ls?target=portal-files&snapshot=latest", bpk, ""); code != 403 {
		t.Errorf("auditor reads data: %d %s", code, body)
	}
	if code, body := call("POST", "/v1/tokens", ops, `{"name":"x","role":"operator"}`); code != 403 {
		t.Errorf("a token minted over the network: %d %s", code, body)
	}
	// An agency's viewer sees its own targets and runs, and nothing of the data center's.
	viewer := token("dinkes-view", "agency-viewer", "--agency", "dinkes")
	if code, body := call("GET", "/v1/targets", viewer, ""); code != 200 || !strings.Contains(body, "portal-files") {
		t.Errorf("agency viewer lists its targets: %d %s", code, body)
	}
	if code, body := call("GET", fmt.Sprintf("/v1/runs/%d", run.ID), viewer, ""); code != 200 {
		t.Errorf("agency viewer reads its run: %d %s", code, body)
	}
	if code, body := call("GET", "/v1/drcs", viewer, ""); code != 403 || errCode(body) != "forbidden" {
		t.Errorf("agency viewer reads the DRCs: %d %s", code, body)
	}
	if code, body := call("POST", "/v1/backups", viewer, `{"target":"portal-files"}`); code != 403 {
		t.Errorf("agency viewer starts a backup: %d %s", code, body)
	}
	w.must("token", "revoke", "ops")
	if code, body := call("GET", "/v1/status", ops, ""); code != 401 || errCode(body) != "invalid_token" {
		t.Errorf("a revoked token: %d %s", code, body)
	}

	code, body = call("GET", "/v1/audit?limit=0", bpk, "")
	if code != 200 {
		t.Fatalf("auditor reads the audit log: %d %s", code, body)
	}
	var entries []api.AuditEntry
	mustJSON(t, body, &entries)
	seen := map[string]int{}
	for _, e := range entries {
		seen[fmt.Sprintf("%d %s %s %s", e.Status, e.Principal, e.Role, e.Action)]++
		if strings.Contains(e.Object+e.Result+e.Action, "cdg_") {
			t.Errorf("a secret in the audit log: %+v", e)
		}
	}
	for _, k := range []string{
		"202 token:ops operator POST /v1/backups",
		"403 token:bpk auditor POST /v1/backups",
		"403 token:bpk auditor GET /v1/ls",
		"401 anonymous  GET /v1/status",
	} {
		if seen[k] == 0 {
			t.Errorf("not in the audit log: %q (%v)", k, seen)
		}
	}
	for _, s := range []string{ops, bpk} {
		if strings.Contains(w.log(), s) {
			t.Error("a token's secret is in the daemon's log")
		}
	}
}

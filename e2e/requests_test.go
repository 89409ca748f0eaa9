package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// netAPI calls a daemon's network API over real TLS, as the portal would.
type netAPI struct {
	t      *testing.T
	addr   string
	client *http.Client
}

func newNetAPI(t *testing.T, addr string, pki testenv.TLSFiles) *netAPI {
	return &netAPI{t: t, addr: addr, client: &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientConfig(t, false)}}}
}

// call sends a request with a bearer secret ("" for none) and headers as name, value
// pairs, and returns the status and body.
func (n *netAPI) call(method, path, secret, body string, headers ...string) (int, string) {
	n.t.Helper()
	req, err := http.NewRequest(method, "https://"+n.addr+path, strings.NewReader(body))
	if err != nil {
		n.t.Fatal(err)
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := n.client.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// token creates an API token with the CLI and returns its secret.
func (w *world) token(name, role string, extra ...string) string {
	w.t.Helper()
	var out api.TokenCreated
	mustJSON(w.t, w.must(append([]string{"token", "create", "--name", name, "--role", role, "--json"}, extra...)...).stdout, &out)
	if !strings.HasPrefix(out.Token, "cdg_") {
		w.t.Fatalf("token create --json: %+v", out)
	}
	return out.Token
}

// An agency's restore through the portal is a request: it waits, pending, for the
// agency's admin AND an operator; the requester cannot approve its own; one approval
// is not enough; a destination outside the target's api.restore_destinations is
// refused with the reason; a rejected request never runs; the approved one restores
// the PostgreSQL database into an allowed new database, row for row; every step is in
// the audit log once.
func TestAgencyRestoreRequest(t *testing.T) {
	t.Parallel()
	pg := testenv.Postgres(t)
	w := newWorld(t)
	password := "secret-" + testenv.Name("pw")
	role := pg.CreateRole(t, "cadang_req", password, "CREATEDB")
	db := testenv.Name("cadang_req")
	pg.Exec(t, "postgres", fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, role))
	pg.DropDBAtCleanup(t, db)
	pg.Exec(t, db, fmt.Sprintf(`SET ROLE %s;
CREATE TABLE pasien (id serial PRIMARY KEY, nama text, data jsonb);
INSERT INTO pasien (nama, data) SELECT 'pasien ' || g, jsonb_build_object('g', g) FROM generate_series(1, 2000) g;
RESET ROLE;`, role))
	passFile := testenv.SecretFile(t, password)
	pki := testenv.NewTLSFiles(t, t.TempDir())
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	w.config(pathDRC(w)+fmt.Sprintf(`agencies:
  - {id: dinkes, name: Dinas Kesehatan}
  - {id: disdik, name: Dinas Pendidikan}
targets:
  - name: simpus-db
    agency: dinkes
    kind: postgres
    postgres: {host: 127.0.0.1, port: %d, database: %s, user: %s, password_file: %s}
    api: {restore_destinations: ["%s_pulih_*"]}
`, pg.Port, db, role, passFile, db),
		fmt.Sprintf("api: {listen: %q, tls: {cert_file: %q, key_file: %q}}", addr, pki.ServerCert, pki.ServerKey))
	w.startDaemon()
	if ri, r := w.backupJSON("simpus-db"); ri.Status != "succeeded" {
		t.Fatalf("backup: %s", r)
	}
	n := newNetAPI(t, addr, pki)
	portal := w.token("elayanan", "portal")
	admin := w.token("dinkes-admin", "agency-admin", "--agency", "dinkes")
	other := w.token("disdik-admin", "agency-admin", "--agency", "disdik")
	asDinkes := []string{api.OnBehalfOfHeader, "dinkes", api.TicketHeader, "ELY-2026-0412"}
	// expect(want)(code, body) decodes a request answered with status want.
	expect := func(want int) func(int, string) api.Request {
		return func(code int, body string) api.Request {
			t.Helper()
			if code != want {
				t.Fatalf("%d %s, want %d", code, body, want)
			}
			var r api.Request
			mustJSON(t, body, &r)
			return r
		}
	}
	errOf := func(body string) api.Error {
		var e api.Error
		_ = json.Unmarshal([]byte(body), &e)
		return e
	}

	// Destinations outside the allowed list are refused, with the reason, and nothing is recorded.
	for _, to := range []string{"postgres:///postgres", fmt.Sprintf("postgres://127.0.0.1/%s_pulih_1", db),
		fmt.Sprintf("postgres:///%s_pulih_1?user=postgres", db), "/tmp/simpus.pgc"} {
		code, body := n.call("POST", "/v1/restores", portal, fmt.Sprintf(`{"target":"simpus-db","to":%q}`, to), asDinkes...)
		if e := errOf(body); code != 400 || e.Code != "bad_request" || !strings.Contains(e.Error, "simpus-db") {
			t.Errorf("restore request to %s: %d %s, want 400 naming the target", to, code, body)
		}
	}

	// The portal asks; the answer is a pending request with the snapshot pinned and the ticket kept.
	newDB := db + "_pulih_1"
	pg.DropDBAtCleanup(t, newDB)
	req := expect(202)(n.call("POST", "/v1/restores", portal, fmt.Sprintf(`{"target":"simpus-db","snapshot":"latest","to":"postgres:///%s"}`, newDB), asDinkes...))
	if req.Status != "pending" || len(req.Snapshot) != 64 || req.Ticket != "ELY-2026-0412" || req.Requester != "token:elayanan" ||
		strings.Join(req.Waiting, ",") != "agency-admin,operator" {
		t.Fatalf("the request: %+v", req)
	}
	reqPath := fmt.Sprintf("/v1/requests/%d", req.ID)
	// Another agency does not see it, nor decide it; the requester never approves its own.
	if code, body := n.call("GET", reqPath, other, ""); code != 404 {
		t.Errorf("another agency reads the request: %d %s", code, body)
	}
	if code, body := n.call("POST", reqPath+"/approve", other, `{}`); code != 404 {
		t.Errorf("another agency approves the request: %d %s", code, body)
	}
	if code, body := n.call("POST", reqPath+"/approve", portal, `{}`, asDinkes...); code != 403 {
		t.Errorf("the requester approves its own request: %d %s", code, body)
	}
	// The agency's admin approves: not enough, it waits for an operator.
	r := expect(200)(n.call("POST", reqPath+"/approve", admin, `{"comment":"data milik Dinkes, tujuan sesuai"}`))
	if r.Status != "pending" || strings.Join(r.Waiting, ",") != "operator" || r.Run != 0 {
		t.Fatalf("after the admin's approval: %+v", r)
	}
	if code, body := n.call("POST", reqPath+"/approve", admin, `{}`); code != 409 {
		t.Errorf("the admin approves twice: %d %s", code, body)
	}

	// A second request is rejected: it never runs.
	rejectedDB := db + "_pulih_2"
	pg.DropDBAtCleanup(t, rejectedDB)
	req2 := expect(202)(n.call("POST", "/v1/restores", portal, fmt.Sprintf(`{"target":"simpus-db","to":"postgres:///%s"}`, rejectedDB), asDinkes...))
	if code, body := n.call("POST", fmt.Sprintf("/v1/requests/%d/reject", req2.ID), admin, `{}`); code != 400 {
		t.Errorf("a rejection without a comment: %d %s", code, body)
	}
	if r := expect(200)(n.call("POST", fmt.Sprintf("/v1/requests/%d/reject", req2.ID), admin, `{"comment":"salah tujuan"}`)); r.Status != "rejected" {
		t.Errorf("rejected: %+v", r)
	}
	if res := w.cadang("request", "approve", fmt.Sprint(req2.ID)); res.code != 1 || !testenv.OneLine(res.stderr) || !strings.Contains(res.stderr, "is rejected: it takes no more decisions") {
		t.Errorf("approving a rejected request: %s", res)
	}

	// The operator approves on the unix socket: the restore runs.
	var approved api.Request
	mustJSON(t, w.must("request", "approve", fmt.Sprint(req.ID), "--comment", "diverifikasi", "--json").stdout, &approved)
	if approved.Status != "approved" || approved.Run == 0 {
		t.Fatalf("after the operator's approval: %+v", approved)
	}
	waitFor(t, "the approved restore", 3*time.Minute, func() (bool, string) {
		code, body := n.call("GET", reqPath, portal, "", asDinkes...)
		var r api.Request
		_ = json.Unmarshal([]byte(body), &r)
		return code == 200 && r.RunState != "queued" && r.RunState != "running", body
	})
	r = expect(200)(n.call("GET", reqPath, portal, "", asDinkes...))
	if r.RunState != "succeeded" {
		t.Fatalf("the approved restore: %+v\n%s", r, w.must("runs", "--limit", "3"))
	}
	q := "SELECT count(*) || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM pasien t"
	if got, want := pg.Query(t, newDB, q), pg.Query(t, db, q); got != want {
		t.Errorf("restored pasien: %s, want %s", got, want)
	}
	if got := pg.Query(t, "postgres", fmt.Sprintf("SELECT count(*) FROM pg_database WHERE datname = '%s'", rejectedDB)); got != "0" {
		t.Errorf("the rejected request's database exists: %s", got)
	}
	restores := 0
	for _, run := range w.runs("simpus-db") {
		if run.Op == "restore" {
			restores++
			if !strings.Contains(run.Reason, fmt.Sprintf("request %d", req.ID)) || !strings.Contains(run.Reason, "ELY-2026-0412") {
				t.Errorf("the restore run's reason: %q", run.Reason)
			}
		}
	}
	if restores != 1 {
		t.Errorf("%d restore runs, want 1 (the approved request's)", restores)
	}

	// The audit log holds each step once.
	var entries []api.AuditEntry
	mustJSON(t, w.must("audit", "--json").stdout, &entries)
	seen := map[string]int{}
	for _, e := range entries {
		seen[fmt.Sprintf("%d %s %s %s", e.Status, e.Principal, e.Action, e.Object)]++
	}
	one, two := fmt.Sprintf("request %d", req.ID), fmt.Sprintf("request %d", req2.ID)
	for k, want := range map[string]int{
		"202 token:elayanan POST /v1/restores simpus-db":               2,
		"400 token:elayanan POST /v1/restores simpus-db":               4,
		"403 token:elayanan POST /v1/requests/{id}/approve " + one:     1,
		"404 token:disdik-admin POST /v1/requests/{id}/approve " + one: 1,
		"200 token:dinkes-admin POST /v1/requests/{id}/approve " + one: 1,
		"409 token:dinkes-admin POST /v1/requests/{id}/approve " + one: 1,
		"400 token:dinkes-admin POST /v1/requests/{id}/reject " + two:  1,
		"200 token:dinkes-admin POST /v1/requests/{id}/reject " + two:  1,
		"409 uid:0 POST /v1/requests/{id}/approve " + two:              1,
		"200 uid:0 POST /v1/requests/{id}/approve " + one:              1,
	} {
		if seen[k] != want {
			t.Errorf("audit log: %d x %q, want %d", seen[k], k, want)
		}
	}
	if t.Failed() {
		t.Logf("audit log: %v", seen)
	}
	// The agency reads its entries of the request, and only its own agency's.
	var own []api.AuditEntry
	code, body := n.call("GET", "/v1/audit?limit=0", admin, "")
	mustJSON(t, body, &own)
	if code != 200 || !strings.Contains(body, one) {
		t.Errorf("the agency's audit entries: %d %s", code, body)
	}
	for _, e := range own {
		if e.Agency != "dinkes" {
			t.Errorf("dinkes reads an entry of %q: %+v", e.Agency, e)
		}
	}
	w.must("audit", "verify")
}

package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/server"
	"github.com/cadang/cadang/internal/testenv"
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

// Bad input on the network, over real TLS: malformed JSON, unknown fields and a huge
// body are refused with 400 and a code, on every kind of write an agency makes; and a
// burst of 10,000 requests from one token is slowed down (429) while the operator's
// unix socket goes on answering.
func TestNetworkBadInputAndBurst(t *testing.T) {
	d, clk := startedDaemon(t, reportConfig)
	pki := testenv.NewTLSFiles(t, t.TempDir())
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ln, err := listenNetwork(config.API{Listen: addr, TLS: config.TLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey}})
	if err != nil {
		t.Fatal(err)
	}
	srv := d.networkServer()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	sock := filepath.Join(t.TempDir(), "api.sock")
	sln, err := listenSocket(sock)
	if err != nil {
		t.Fatal(err)
	}
	ssrv := &http.Server{Handler: d.handler(), ConnContext: server.PeerContext}
	go func() { _ = ssrv.Serve(sln) }()
	t.Cleanup(func() { _ = ssrv.Close() })
	secret, _, err := d.cat.CreateToken("dinkes-admin", "agency-admin", "dinkes", clk.Now().Add(time.Hour), clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: pki.ClientConfig(t, false), MaxIdleConnsPerHost: 32}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	call := func(method, path string, body io.Reader) (int, api.Error, error) {
		req, _ := http.NewRequest(method, "https://"+addr+path, body)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := client.Do(req)
		if err != nil {
			return 0, api.Error{}, err
		}
		defer resp.Body.Close()
		var e api.Error
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &e)
		return resp.StatusCode, e, nil
	}
	huge := `{"target":"t1","to":"` + strings.Repeat("x", 2<<20) + `"}`
	for _, path := range []string{"/v1/backups", "/v1/restores", "/v1/exports", "/v1/requests/1/approve"} {
		for name, c := range map[string]struct{ body, want string }{
			"malformed":     {`{"target":`, "unexpected EOF"},
			"unknown field": {`{"bogus":1}`, `unknown field "bogus"`},
			"huge":          {huge, "too large"},
			"two objects":   {`{}{}`, "data after the JSON object"},
		} {
			code, e, err := call("POST", path, strings.NewReader(c.body))
			if err != nil || code != 400 || e.Code != "bad_request" || !strings.Contains(e.Error, c.want) {
				t.Errorf("POST %s, %s body: %d %+v %v; want 400 bad_request with %q", path, name, code, e, err, c.want)
			}
		}
	}

	// The burst, from 16 connections; the socket is asked for the status meanwhile.
	socket := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	stop := make(chan struct{})
	socketDone := make(chan [2]int)
	go func() {
		ok, failed := 0, 0
		for {
			select {
			case <-stop:
				socketDone <- [2]int{ok, failed}
				return
			case <-time.After(20 * time.Millisecond):
			}
			resp, err := socket.Get("http://cadang/v1/status")
			if err == nil && resp.StatusCode == 200 {
				ok++
			} else {
				failed++
			}
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
	var served, limited, other atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 16 {
		wg.Go(func() {
			for next.Add(1) <= 10000 {
				code, _, err := call("GET", "/v1/targets", nil)
				switch {
				case err == nil && code == 200:
					served.Add(1)
				case err == nil && code == 429:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	sock2 := <-socketDone
	if served.Load()+limited.Load() != 10000 || other.Load() != 0 || limited.Load() == 0 || served.Load() == 0 {
		t.Errorf("the burst: %d served, %d limited (429), %d otherwise", served.Load(), limited.Load(), other.Load())
	}
	if sock2[0] == 0 || sock2[1] != 0 {
		t.Errorf("the socket during the burst: %d answered, %d failed", sock2[0], sock2[1])
	}
	t.Logf("burst: %d served, %d limited; socket: %d status answers meanwhile", served.Load(), limited.Load(), sock2[0])
}

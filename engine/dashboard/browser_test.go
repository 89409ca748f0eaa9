package dashboard_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/cadang/cadang/engine"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/cluster"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/internal/testenv"
)

// fleet is a small fleet on a filesystem DRC (one: each repository's restic init costs
// seconds): two agencies, each with a target whose
// backups run (real restic) and targets that never ran.
type fleet struct {
	dir    string
	base   string            // http://127.0.0.1:port
	tokens map[string]string // by token name: ops (operator), bpk (auditor), dinkes (agency-admin of dinkes)
}

// startFleet runs a daemon in-process (engine.Serve: the socket, the network listener
// with the dashboard, the queue) on a fresh state dir, with its tokens made on the
// socket as `cadang token create` makes them.
func startFleet(t *testing.T) *fleet {
	t.Helper()
	restic := testenv.Restic(t)
	dir := t.TempDir()
	for _, p := range []string{"local", "src/simpus", "src/sekolah"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"src/simpus/pasien.csv", "src/sekolah/siswa.csv"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(strings.Repeat("data,", 2000)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	// Two enrolled agents over the embedded NATS server: hyp-07 runs (in this process,
	// below), hyp-08 never does. No target runs on them.
	natsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var agents string
	for _, name := range []string{"hyp-07", "hyp-08"} {
		en, err := cluster.Enroll(name, "hv", "nats://"+natsAddr, filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		agents += fmt.Sprintf("    - {name: %s, pool: hv, nkey: %s, recipient: %s}\n", name, en.Entry.NKey, en.Entry.Recipient)
	}
	body := fmt.Sprintf(`state_dir: %[1]s/state
restic: {binary: %[2]s}
api: {listen: %[3]q}
drcs:
  - {name: local, role: primary, path: %[1]s/local}
agencies:
  - {id: dinkes, name: Dinas Kesehatan, approval: [operator]}
  - {id: disdik, name: Dinas Pendidikan}
targets:
  - {name: simpus-files, agency: dinkes, kind: files, rpo: 26h, files: {paths: [%[1]s/src/simpus]}, api: {restore_destinations: ["%[1]s/pulih"]}}
  - {name: puskesmas-files, agency: dinkes, kind: files, rpo: 26h, files: {paths: [%[1]s/src/simpus]}}
  - {name: sekolah-files, agency: disdik, kind: files, rpo: 26h, files: {paths: [%[1]s/src/sekolah]}}
  - {name: ppdb-files, agency: disdik, kind: files, rpo: 26h, files: {paths: [%[1]s/src/sekolah]}}
cluster:
  listen: %[4]s
  agents:
%[5]s`, dir, restic, addr, natsAddr, agents)
	file := filepath.Join(dir, "cadang.yaml")
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	t0 := time.Now()
	if _, err := engine.Init(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	t.Logf("init in %s", time.Since(t0).Round(time.Millisecond))
	d, err := engine.New(cfg, engine.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	t.Cleanup(func() {
		start := time.Now()
		defer func() { t.Logf("daemon stopped in %s", time.Since(start).Round(time.Millisecond)) }()
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("the daemon did not stop within a minute")
		}
	})
	client := api.NewClient(cfg.Daemon.Socket)
	testenv.Eventually(t, 30*time.Second, "the daemon's socket", func() bool {
		_, err := client.Status(ctx)
		return err == nil
	})
	acfg, err := cluster.LoadAgentConfig(filepath.Join(dir, "hyp-07", "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	agent, err := cluster.NewAgent(acfg, "v-test", log)
	if err != nil {
		t.Fatal(err)
	}
	actx, stopAgent := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { _ = agent.Run(actx); close(ran) }()
	t.Cleanup(func() { stopAgent(); <-ran; agent.Close() })
	f := &fleet{dir: dir, base: "http://" + addr, tokens: map[string]string{}}
	for _, tr := range []api.TokenRequest{{Name: "ops", Role: "operator"}, {Name: "bpk", Role: "auditor"},
		{Name: "dinkes", Role: "agency-admin", Agency: "dinkes"}} {
		tc, err := client.CreateToken(ctx, tr)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[tr.Name] = tc.Token
	}
	return f
}

// api calls the network API with token, decoding the answer into out; it returns the
// HTTP status.
func (f *fleet) api(t *testing.T, method, path, token, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, f.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// browser starts headless Chromium (Debian's), or skips saying how to get it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Skip(t, "chromium is not installed: run e2e/setup/services.d/60-chromium.sh (apt-get install -y chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("chromium: %v", err)
	}
	return ctx
}

// artifacts is where screenshots go: $CADANG_ARTIFACTS, else the test's temp dir.
func artifacts(t *testing.T) string {
	if d := os.Getenv("CADANG_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
	// CADANG_UPDATE_SCREENSHOTS=1 refreshes the documentation's (docs/img).
	if os.Getenv("CADANG_UPDATE_SCREENSHOTS") == "1" {
		if err := os.WriteFile(filepath.Join(testenv.Root(t), "docs", "img", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func signIn(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("tiles")),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
}

func signOut(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("token"))); err != nil {
		t.Fatalf("sign out: %v", err)
	}
}

// The dashboard in a real browser: the operator sees every agency, presses "back up
// now" and sees the run succeed, switches the language; a form without its CSRF token
// is refused; an agency's user sees its own agency only (another agency's target is
// not found); the auditor sees everything and is offered no button.
func TestDashboardInBrowser(t *testing.T) {
	start := time.Now()
	f := startFleet(t)
	t.Logf("daemon up in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	ctx := browser(t)
	t.Logf("browser up in %s", time.Since(start).Round(time.Millisecond))
	shots := artifacts(t)

	t.Run("operator", func(t *testing.T) {
		// Not signed in: every page sends to the sign-in form.
		wait, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := chromedp.Do(wait, chromedp.Navigate(f.base+"/targets/simpus-files"), chromedp.WaitVisible(chromedp.ID("token")))
		cancel()
		if err != nil {
			t.Fatalf("a page without a session does not lead to the sign-in form: %v", err)
		}
		signIn(t, ctx, f.base, f.tokens["ops"])
		if got := text(t, ctx, "#nav-fleet"); got != "Ringkasan" {
			t.Errorf("the default language is Indonesian: the fleet link says %q", got)
		}
		tiles, table := text(t, ctx, "#tiles"), text(t, ctx, "#target-table")
		for _, want := range []string{"dinkes", "disdik"} {
			if !strings.Contains(tiles, want) {
				t.Errorf("the operator's tiles lack %s: %q", want, tiles)
			}
		}
		for _, want := range []string{"simpus-files", "sekolah-files", "ppdb-files"} {
			if !strings.Contains(table, want) {
				t.Errorf("the operator's target table lacks %s", want)
			}
		}
		if drcs := text(t, ctx, "#drcs"); !strings.Contains(drcs, "local") {
			t.Errorf("the DRCs section lacks the DRC: %q", drcs)
		}
		// The agents: hyp-07 up once its first heartbeat is in, hyp-08 never heard from.
		agentsStart := time.Now()
		testenv.Eventually(t, 30*time.Second, "agent hyp-07 shown up", func() bool {
			if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("agents"))); err != nil {
				return false
			}
			n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#agent-hyp-07 .st-up").length`))
			return err == nil && n == 1
		})
		t.Logf("agent hyp-07 shown up after %s", time.Since(agentsStart).Round(time.Millisecond))
		if row := text(t, ctx, "#agent-hyp-07"); !strings.Contains(row, "aktif") || strings.Contains(row, "tidak aktif") ||
			!strings.Contains(row, "v-test") || !strings.Contains(row, "(hv)") || !strings.Contains(row, "0/1") {
			t.Errorf("the row of agent hyp-07 (up): %q", row)
		}
		if row := text(t, ctx, "#agent-hyp-08 .st-down"); row != "tidak aktif" {
			t.Errorf("agent hyp-08 (never started) is shown %q, want tidak aktif", row)
		}
		if row := text(t, ctx, "#agent-hyp-08"); !strings.Contains(row, "belum pernah") {
			t.Errorf("the row of agent hyp-08 lacks its missing heartbeat: %q", row)
		}

		// Back up now, then watch the run end on the target's page.
		if err := chromedp.Do(ctx,
			chromedp.Navigate(f.base+"/targets/simpus-files"),
			chromedp.Click(chromedp.ID("backup-now")),
			chromedp.WaitVisible(chromedp.ID("queued")),
		); err != nil {
			t.Fatalf("back up now: %v", err)
		}
		queued := text(t, ctx, "#queued")
		id := strings.TrimSuffix(queued[strings.LastIndex(queued, "#")+1:], ".")
		var row string
		testenv.Eventually(t, 90*time.Second, "run "+id+" to succeed on the target's page", func() bool {
			if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("run-"+id))); err != nil {
				return false
			}
			row = text(t, ctx, "#run-"+id)
			return strings.Contains(row, "berhasil")
		})
		if snaps := text(t, ctx, "#snapshots"); !strings.Contains(snaps, "baik") {
			t.Errorf("the new snapshot is not listed: %q", snaps)
		}

		// A drill of the target (queued through the API, as `cadang drill` does): its
		// report opens from the drills page, as HTML, and downloads as PDF.
		var drills []api.RunInfo
		if code := f.api(t, "POST", "/v1/drills", f.tokens["ops"], `{"target":"simpus-files"}`, &drills); code != http.StatusAccepted || len(drills) == 0 {
			t.Fatalf("drill: HTTP %d %+v", code, drills)
		}
		drill := drills[0].ID
		testenv.Eventually(t, 90*time.Second, fmt.Sprintf("drill %d to end", drill), func() bool {
			var run api.RunInfo
			f.api(t, "GET", fmt.Sprintf("/v1/runs/%d", drill), f.tokens["ops"], "", &run)
			return run.Status.Done()
		})
		if err := chromedp.Do(ctx, chromedp.Navigate(f.base+"/drills"), chromedp.WaitVisible(chromedp.ID("drill-table")),
			chromedp.Click(chromedp.CSS(fmt.Sprintf("#drill-%d .html", drill))), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
			t.Fatalf("open drill %d's report: %v", drill, err)
		}
		if body := text(t, ctx, "body"); !strings.Contains(body, "simpus-files") || !strings.Contains(strings.ToLower(body), "berita acara uji pemulihan") {
			t.Errorf("drill %d's HTML report: %.300q", drill, body)
		}
		pdf, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.location.origin + "/reports/drill/%d?format=pdf"`, drill)))
		if err != nil {
			t.Fatal(err)
		}
		preq, _ := http.NewRequest("GET", pdf, nil)
		preq.Header.Set("Authorization", "Bearer "+f.tokens["ops"])
		if resp, err := http.DefaultClient.Do(preq); err != nil {
			t.Fatal(err)
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "%PDF") || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
				t.Errorf("drill %d's PDF: HTTP %d %q, %.8q", drill, resp.StatusCode, resp.Header.Get("Content-Disposition"), b)
			}
		}

		// The agency asks for a restore (through the API, as its portal would); the
		// operator approves it on the requests page.
		req, _ := http.NewRequest("POST", f.base+"/v1/restores", strings.NewReader(fmt.Sprintf(`{"target":"simpus-files","to":%q}`, filepath.Join(f.dir, "pulih", "a"))))
		req.Header.Set("Authorization", "Bearer "+f.tokens["dinkes"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var pending api.Request
		_ = json.NewDecoder(resp.Body).Decode(&pending)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || pending.ID == 0 {
			t.Fatalf("the agency's restore request: HTTP %d %+v", resp.StatusCode, pending)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(f.base+"/requests?status=pending"), chromedp.WaitVisible(chromedp.ID("request-table")),
			chromedp.Click(chromedp.CSS(fmt.Sprintf("#request-%d .approve", pending.ID))), chromedp.WaitVisible(chromedp.ID("decided"))); err != nil {
			t.Fatalf("approve request %d: %v", pending.ID, err)
		}
		if row := text(t, ctx, fmt.Sprintf("#request-%d", pending.ID)); !strings.Contains(row, "disetujui") {
			t.Errorf("request %d after its approval: %q", pending.ID, row)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(f.base+"/targets/simpus-files"), chromedp.WaitVisible(chromedp.ID("runs"))); err != nil {
			t.Fatal(err)
		}
		screenshot(t, ctx, shots, "dashboard-target.png")
		if err := chromedp.Do(ctx, chromedp.Navigate(f.base+"/"), chromedp.WaitVisible(chromedp.ID("tiles"))); err != nil {
			t.Fatal(err)
		}
		screenshot(t, ctx, shots, "dashboard-fleet.png")

		// English on request, kept for the next pages.
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("lang")), chromedp.WaitVisible(chromedp.ID("tiles"))); err != nil {
			t.Fatal(err)
		}
		if got := text(t, ctx, "#nav-fleet"); got != "Fleet" {
			t.Errorf("after switching to English the fleet link says %q", got)
		}
		if up, down := text(t, ctx, "#agent-hyp-07 .st-up"), text(t, ctx, "#agent-hyp-08 .st-down"); up != "up" || down != "down" {
			t.Errorf("the agents in English: hyp-07 %q, hyp-08 %q", up, down)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(f.base+"/drills"), chromedp.WaitVisible(chromedp.ID("drill-table"))); err != nil {
			t.Fatal(err)
		}
		if got := text(t, ctx, "h1"); got != "Drills & Reports" {
			t.Errorf("the language did not stay English: %q", got)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("lang")), chromedp.WaitVisible(chromedp.ID("drill-table"))); err != nil {
			t.Fatal(err)
		}

		// The session's cookie alone does not make a form: without its CSRF token
		// (or with another), a POST is refused and nothing is queued.
		cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
		if err != nil {
			t.Fatal(err)
		}
		var session *network.Cookie
		for _, c := range cookies.Cookies {
			if c.Name == "cadang_session" {
				session = c
			}
		}
		if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict {
			t.Fatalf("the session cookie is not HttpOnly and SameSite=Strict: %+v", session)
		}
		for _, form := range []url.Values{{}, {"csrf": {"0123"}}} {
			req, _ := http.NewRequest("POST", f.base+"/targets/simpus-files/backup", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("a form with csrf=%q: HTTP %d, want 403", form.Get("csrf"), resp.StatusCode)
			}
		}
		// Scripts use the API's bearer token instead of a session.
		req, _ = http.NewRequest("GET", f.base+"/targets/simpus-files", nil)
		req.Header.Set("Authorization", "Bearer "+f.tokens["ops"])
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
			t.Errorf("a page with a bearer token: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		signOut(t, ctx)
	})

	t.Run("agency", func(t *testing.T) {
		signIn(t, ctx, f.base, f.tokens["dinkes"])
		tiles, table := text(t, ctx, "#tiles"), text(t, ctx, "#target-table")
		if !strings.Contains(tiles, "dinkes") || strings.Contains(tiles, "disdik") {
			t.Errorf("an agency's tiles show %q: want its own only", tiles)
		}
		if !strings.Contains(tiles, "kritis") { // puskesmas-files has no snapshot
			t.Errorf("an agency's tile lacks its RPO grade: %q", tiles)
		}
		if !strings.Contains(table, "simpus-files") || strings.Contains(table, "sekolah-files") || strings.Contains(table, "ppdb-files") {
			t.Errorf("an agency's targets show %q: want its own only", table)
		}
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#drcs, #agents").length`)); err != nil || n != 0 {
			t.Errorf("an agency is shown the DRCs or the agents (%d, %v)", n, err)
		}
		// Another agency's target is not found, like one that does not exist.
		if err := chromedp.Do(ctx, chromedp.Navigate(f.base+"/targets/sekolah-files"), chromedp.WaitVisible(chromedp.ID("error"))); err != nil {
			t.Fatal(err)
		}
		if got := text(t, ctx, "h1"); got != "Tidak ditemukan" {
			t.Errorf("another agency's target: %q", got)
		}
		// Its own target, with its button.
		if err := chromedp.Do(ctx, chromedp.Navigate(f.base+"/targets/simpus-files"), chromedp.WaitVisible(chromedp.ID("backup-now"))); err != nil {
			t.Fatal(err)
		}
		signOut(t, ctx)
	})

	t.Run("auditor", func(t *testing.T) {
		signIn(t, ctx, f.base, f.tokens["bpk"])
		if tiles := text(t, ctx, "#tiles"); !strings.Contains(tiles, "dinkes") || !strings.Contains(tiles, "disdik") {
			t.Errorf("the auditor's tiles: %q", tiles)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(f.base+"/targets/sekolah-files"), chromedp.WaitVisible(chromedp.ID("runs"))); err != nil {
			t.Fatal(err)
		}
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#backup-now").length`)); err != nil || n != 0 {
			t.Errorf("the auditor is offered to back up (%d, %v)", n, err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(f.base+"/audit"), chromedp.WaitVisible(chromedp.ID("audit-table"))); err != nil {
			t.Fatal(err)
		}
		if got := text(t, ctx, "#audit-table"); !strings.Contains(got, "POST /v1/backups") {
			t.Errorf("the audit log lacks the dashboard's backup: %q", got)
		}
		signOut(t, ctx)
	})

	t.Run("wrong token", func(t *testing.T) {
		err := chromedp.Do(ctx, chromedp.Navigate(f.base+"/login"), chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), "cdg_wrong"), chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("error")))
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	})
}

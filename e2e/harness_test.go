package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// cadangBin is the binary under test, built once by TestMain (with the race detector
// unless CADANG_E2E_RACE=0, so the daemon is checked for races under real load).
var cadangBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cadang-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cadangBin = filepath.Join(dir, "cadang")
	args := []string{"build", "-o", cadangBin}
	if os.Getenv("CADANG_E2E_RACE") != "0" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/cadang")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building cadang:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// world is one cadang installation of a test: a config, a state dir, a daemon.
type world struct {
	t        *testing.T
	dir      string
	cfgFile  string
	stateDir string
	restic   string
	grace    string // daemon.shutdown_grace
	daemonX  string // more of the daemon: section (", site: main")

	daemon     *exec.Cmd
	daemonLog  string
	daemonDone chan error
}

func newWorld(t *testing.T) *world {
	dir := t.TempDir()
	w := &world{t: t, dir: dir, cfgFile: filepath.Join(dir, "cadang.yaml"), stateDir: filepath.Join(dir, "state"),
		restic: testenv.Restic(t), grace: "60s"}
	t.Cleanup(w.cleanup)
	return w
}

// config writes cadang.yaml from the drcs, agencies and targets sections given in
// YAML, adding state_dir and restic.
func (w *world) config(body string, extra ...string) {
	w.t.Helper()
	head := fmt.Sprintf("state_dir: %q\nrestic: {binary: %q}\ndaemon: {shutdown_grace: %s%s}\n", w.stateDir, w.restic, w.grace, w.daemonX)
	for _, e := range extra {
		head += e + "\n"
	}
	if err := os.WriteFile(w.cfgFile, []byte(head+body), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// result is what a cadang command did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// cadang runs the CLI.
func (w *world) cadang(args ...string) result {
	w.t.Helper()
	return w.cadangIn("", []string{"CADANG_CONFIG=" + w.cfgFile}, args...)
}

// cadangIn runs the CLI in folder dir ("" for the test's) with env added to the
// test's environment less any CADANG_ variable.
func (w *world) cadangIn(dir string, env []string, args ...string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cadangBin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADANG_") || strings.HasPrefix(kv, "CADANG_TEST_") || strings.HasPrefix(kv, "CADANG_E2E_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("cadang %v: %v", args, err)
	}
	r := result{stdout: out.String(), stderr: errb.String(), code: code}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "DATA RACE") {
		w.t.Fatalf("cadang %v crashed:\n%s", args, r.stderr)
	}
	return r
}

// must runs the CLI and fails the test unless it exits 0.
func (w *world) must(args ...string) result {
	w.t.Helper()
	r := w.cadang(args...)
	if r.code != 0 {
		w.t.Fatalf("cadang %v: %s", args, r)
	}
	return r
}

// startDaemon starts `cadang daemon` and waits until its API answers.
func (w *world) startDaemon() {
	w.t.Helper()
	w.daemonLog = filepath.Join(w.dir, fmt.Sprintf("daemon-%d.log", time.Now().UnixNano()))
	logf, err := os.Create(w.daemonLog)
	if err != nil {
		w.t.Fatal(err)
	}
	cmd := exec.Command(cadangBin, "daemon", "--log-level", "debug")
	cmd.Env = append(os.Environ(), "CADANG_CONFIG="+w.cfgFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	w.daemon, w.daemonDone = cmd, done

	client := api.NewClient(filepath.Join(w.stateDir, "cadang.sock"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := client.Status(context.Background()); err == nil {
			return
		}
		select {
		case err := <-done:
			w.daemon = nil
			w.t.Fatalf("daemon exited at start (%v):\n%s", err, w.log())
		default:
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("daemon did not answer:\n%s", w.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopDaemon sends sig and waits for the daemon to exit; it returns the exit code.
func (w *world) stopDaemon(sig syscall.Signal, timeout time.Duration) int {
	w.t.Helper()
	if w.daemon == nil {
		return 0
	}
	_ = w.daemon.Process.Signal(sig)
	select {
	case err := <-w.daemonDone:
		w.daemon = nil
		w.checkLog()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 0
	case <-time.After(timeout):
		_ = w.daemon.Process.Kill()
		<-w.daemonDone
		w.daemon = nil
		w.t.Fatalf("daemon did not stop within %s after %v:\n%s", timeout, sig, w.log())
	}
	return -1
}

func (w *world) log() string {
	b, _ := os.ReadFile(w.daemonLog)
	return string(b)
}

// checkLog fails the test if the daemon panicked or raced.
func (w *world) checkLog() {
	w.t.Helper()
	if l := w.log(); strings.Contains(l, "panic:") || strings.Contains(l, "DATA RACE") {
		w.t.Errorf("daemon log shows a crash:\n%s", l)
	}
}

func (w *world) cleanup() {
	if w.daemon != nil {
		w.stopDaemon(syscall.SIGTERM, 2*time.Minute)
	}
}

// runs returns the runs of a target, newest first.
func (w *world) runs(target string) []api.RunInfo {
	w.t.Helper()
	args := []string{"runs", "--json", "--limit", "0"}
	if target != "" {
		args = append(args, target)
	}
	var out []api.RunInfo
	if err := json.Unmarshal([]byte(w.must(args...).stdout), &out); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// backupJSON runs `backup --wait --json` and decodes the final run.
func (w *world) backupJSON(target string) (api.RunInfo, result) {
	w.t.Helper()
	r := w.cadang("backup", target, "--wait", "--json")
	var ri api.RunInfo
	if r.code != 2 {
		if err := json.Unmarshal([]byte(r.stdout), &ri); err != nil {
			w.t.Fatalf("backup --json: %v\n%s", err, r)
		}
	}
	return ri, r
}

// s3DRC is the YAML of an S3 DRC on a MinIO server.
func s3DRC(name, role string, m *testenv.MinIO, endpoint, bucket string) string {
	if endpoint == "" {
		endpoint = m.Endpoint
	}
	return fmt.Sprintf("  - name: %s\n    role: %s\n    s3: {endpoint: %q, bucket: %s, access_key: %s, secret_key_file: %s, insecure: true}\n",
		name, role, endpoint, bucket, m.AccessKey, m.SecretKeyFile())
}

// twoDRCs starts two MinIO servers, the primary DRC "local" and the secondary
// "offsite" (both stopped at the test's end), and returns the primary's (a test stops
// it to restore from the off-site DRC alone) and their drcs: section.
func twoDRCs(t *testing.T) (primary *testenv.MinIO, drcs string) {
	t.Helper()
	primary = testenv.StartMinIO(t, "cadang")
	offsite := testenv.StartMinIO(t, "cadang-offsite")
	return primary, "drcs:\n" + s3DRC("local", "primary", primary, "", "cadang") + s3DRC("offsite", "secondary", offsite, "", "cadang-offsite")
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v in %s", err, s)
	}
}

func readConfig(t *testing.T, w *world) string {
	t.Helper()
	b, err := os.ReadFile(w.cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeConfig(t *testing.T, w *world, s string) {
	t.Helper()
	if err := os.WriteFile(w.cfgFile, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// post sends body as it is to the daemon's API, as a client other than the CLI would.
func (w *world) post(path, body string) (int, string) {
	w.t.Helper()
	resp, err := w.httpClient().Post("http://cadang"+path, "application/json", strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// get reads a path of the daemon's API.
func (w *world) get(path string) (int, string) {
	w.t.Helper()
	resp, err := w.httpClient().Get("http://cadang" + path)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// httpClient speaks to the daemon's unix socket.
func (w *world) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", filepath.Join(w.stateDir, "cadang.sock"))
	}}}
}

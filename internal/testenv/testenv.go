// Package testenv gives tests the real components cadang works with: the restic and
// MinIO binaries built by `make tools`, MinIO servers on free loopback ports, and the
// skip policy: a test that cannot get a component skips with a message saying which
// and how to get it, and CADANG_TEST_DISALLOW_SKIP=1 (set by CI) turns that skip into
// a failure. It is imported by tests only and imports nothing of cadang.
package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Skip skips the test, or fails it when CADANG_TEST_DISALLOW_SKIP=1.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CADANG_TEST_DISALLOW_SKIP") == "1" {
		t.Fatalf("%s (CADANG_TEST_DISALLOW_SKIP=1 forbids skipping)", msg)
	}
	t.Skip(msg)
}

var (
	rootOnce sync.Once
	rootDir  string
)

// Root returns the folder of cadang's go.mod.
func Root(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && strings.HasPrefix(string(b), "module github.com/cadang/cadang\n") {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	if rootDir == "" {
		t.Fatal("testenv: cannot find cadang's go.mod above the working directory")
	}
	return rootDir
}

// Tool returns the path of a binary built into bin/ by `make tools` (restic, minio).
func Tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Root(t), "bin", name)
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		Skip(t, "%s is not built: run `make tools` (it builds bin/%s)", name, name)
	}
	return p
}

// Restic returns the path of bin/restic.
func Restic(t testing.TB) string { return Tool(t, "restic") }

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// MinIO is a MinIO server of a test, on its own loopback port and data folder.
type MinIO struct {
	Endpoint  string // 127.0.0.1:port
	AccessKey string
	SecretKey string
	Dir       string // the server's data folder

	t      testing.TB
	binary string
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
}

// StartMinIO starts a MinIO server with the given buckets; it stops when the test ends.
func StartMinIO(t testing.TB, buckets ...string) *MinIO {
	t.Helper()
	m := &MinIO{
		Endpoint:  fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		AccessKey: "cadangtest",
		SecretKey: "cadangtest-secret-" + fmt.Sprint(time.Now().UnixNano()),
		Dir:       t.TempDir(),
		t:         t,
		binary:    Tool(t, "minio"),
	}
	m.Start()
	t.Cleanup(m.Stop)
	for _, b := range buckets {
		if err := m.Client().MakeBucket(context.Background(), b, minio.MakeBucketOptions{}); err != nil {
			t.Fatalf("minio: make bucket %s: %v", b, err)
		}
	}
	return m
}

// Start starts the server (again) on the same port and data; it waits until it serves.
func (m *MinIO) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return
	}
	cmd := exec.Command(m.binary, "server", "--quiet", "--address", m.Endpoint,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", FreePort(m.t)), m.Dir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	logf, err := os.Create(filepath.Join(m.t.TempDir(), "minio.log"))
	if err != nil {
		m.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("minio: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	m.cmd, m.done = cmd, done

	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + m.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			m.cmd = nil
			m.t.Fatalf("minio exited at start: %s", lastLines(logf.Name(), 5))
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("minio did not become ready on %s: %s", m.Endpoint, lastLines(logf.Name(), 5))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the server (as an outage would); Start brings it back.
func (m *MinIO) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
	m.cmd = nil
}

// Client returns a minio-go client for the server.
func (m *MinIO) Client() *minio.Client {
	c, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	if err != nil {
		m.t.Fatal(err)
	}
	return c
}

// SecretKeyFile writes the secret key to a 0600 file and returns its path.
func (m *MinIO) SecretKeyFile() string {
	p := filepath.Join(m.t.TempDir(), "s3.secret")
	if err := os.WriteFile(p, []byte(m.SecretKey+"\n"), 0o600); err != nil {
		m.t.Fatal(err)
	}
	return p
}

func lastLines(file string, n int) string {
	f, err := os.Open(file)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, " | ")
}

// Eventually waits until cond holds, checking every 20 ms, and fails the test naming
// what it waited for when timeout passes first: tests wait for conditions with a
// deadline, never for a fixed time.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

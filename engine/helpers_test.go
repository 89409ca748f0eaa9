package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/targets"
)

// The stub kind exists only in engine's tests and benchmarks: its backups return at
// once and write nothing, so that only the orchestrator is exercised.
type stubConfig struct{}

type stubTarget struct{}

func (stubTarget) Backup(context.Context, targets.Writer) (*targets.BackupResult, error) {
	return &targets.BackupResult{}, nil
}

func (stubTarget) Restore(context.Context, targets.Reader, targets.RestoreRequest) error { return nil }

func init() {
	targets.Register(targets.Kind{
		Name:      "stub",
		NewConfig: func() any { return &stubConfig{} },
		New:       func(targets.Spec) (targets.Target, error) { return stubTarget{}, nil },
	})
}

// clock is an injected clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

var jakarta = mustZone("Asia/Jakarta")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// wib is a time in Asia/Jakarta.
func wib(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, jakarta)
	if err != nil {
		panic(err)
	}
	return t
}

// testConfig writes cadang.yaml into dir from its sections after state_dir and parses it.
func testConfig(t testing.TB, dir, body string) *config.Config {
	t.Helper()
	file := filepath.Join(dir, "cadang.yaml")
	src := fmt.Sprintf("state_dir: %q\n", filepath.Join(dir, "state")) + strings.ReplaceAll(body, "$DIR", dir)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatalf("config:\n%v", err)
	}
	return cfg
}

// newTestDaemon opens a daemon on cfg with an injected clock (not serving: tests drive
// its scheduler and queue themselves). It is closed when the test ends.
func newTestDaemon(t testing.TB, cfg *config.Config, now func() time.Time) *Daemon {
	t.Helper()
	d, err := New(cfg, Options{Now: now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cat.Close() })
	return d
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("CADANG_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// svc is the daemon as the API serves it.
func svc(d *Daemon) service { return service{d} }

// startedDaemon opens a daemon on the config body (with $DIR/local and $DIR/offsite
// made) at 2026-12-01 10:17 WIB and runs its startup, for the API's tests.
func startedDaemon(t testing.TB, body string) (*Daemon, *clock) {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{"local", "offsite"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	clk := &clock{t: wib("2026-12-01 10:17:00")}
	d := newTestDaemon(t, testConfig(t, dir, body), clk.Now)
	if err := d.startup(nil); err != nil {
		t.Fatal(err)
	}
	return d, clk
}

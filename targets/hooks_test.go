package targets

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHooks(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	appendTrace := func(s string) Hook {
		return Hook{Run: []string{"sh", "-c", `echo "` + s + ` $CADANG_PHASE $CADANG_STATUS" >> ` + trace}}
	}
	hs := Hooks{
		Before: []Hook{appendTrace("b1"), {Run: []string{"sh", "-c", "echo 'cannot stop app: busy' >&2; exit 3"}}, appendTrace("b3")},
		After:  []Hook{{Run: []string{"false"}}, appendTrace("a2")},
	}
	err := hs.RunBefore(context.Background(), nil, log)
	var he *HookError
	if !errors.As(err, &he) || err.Error() != `before-hook "sh -c echo 'cannot stop app: busy' >&2; exit 3" exit status 3: cannot stop app: busy` {
		t.Fatalf("before: %v", err)
	}
	// After-hooks all run, see the outcome, and run even when the context is done.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = hs.RunAfter(ctx, []string{"CADANG_STATUS=failed"}, log)
	if err == nil || !strings.Contains(err.Error(), `after-hook "false" exit status 1`) {
		t.Fatalf("after: %v", err)
	}
	b, _ := os.ReadFile(trace)
	if string(b) != "b1 before \na2 after failed\n" {
		t.Errorf("trace:\n%s", b)
	}
}

func TestHookTimeoutKillsTheGroup(t *testing.T) {
	hs := Hooks{Before: []Hook{{Run: []string{"sh", "-c", "sleep 30 & sleep 30"}, Timeout: 200 * time.Millisecond}}}
	start := time.Now()
	err := hs.RunBefore(context.Background(), nil, slog.New(slog.DiscardHandler))
	if err == nil || !strings.HasSuffix(err.Error(), "timed out after 200ms") {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("the hook's children kept it alive for %s", time.Since(start))
	}
	hs = Hooks{Before: []Hook{{Run: []string{"/no/such/hook"}}}}
	if err := hs.RunBefore(context.Background(), nil, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "/no/such/hook") {
		t.Fatalf("missing hook: %v", err)
	}
}

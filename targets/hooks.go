package targets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultHookTimeout bounds a hook that sets no timeout of its own.
const DefaultHookTimeout = 5 * time.Minute

// Hooks are commands run around a backup. They are argv lists, never shell strings:
// `[systemctl, stop, simpus]`. Before-hooks run in order and the first that fails aborts
// the run (no backup is taken); after-hooks all run, whatever the outcome, and see it in
// their environment (CADANG_STATUS, CADANG_ERROR, CADANG_SNAPSHOT).
type Hooks struct {
	Before  []Hook        `yaml:"before"`
	After   []Hook        `yaml:"after"`
	Timeout time.Duration `yaml:"timeout"` // default for each hook; DefaultHookTimeout if 0
}

// Hook is one command. In YAML it is either a list (`[pg_ctl, status]`) or a mapping
// with its own timeout (`{run: [fsfreeze, -f, /srv], timeout: 30s}`).
type Hook struct {
	Run     []string
	Timeout time.Duration
}

// UnmarshalYAML accepts both forms of a hook.
func (h *Hook) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.SequenceNode:
		return n.Decode(&h.Run)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "run":
				if err := v.Decode(&h.Run); err != nil {
					return fmt.Errorf("run: %v", err)
				}
			case "timeout":
				d, err := time.ParseDuration(v.Value)
				if err != nil || d <= 0 {
					return fmt.Errorf("timeout: invalid duration %q (use 30s, 5m)", v.Value)
				}
				h.Timeout = d
			default:
				return fmt.Errorf("unknown key %q in hook (use run and timeout)", k.Value)
			}
		}
		return nil
	}
	return errors.New("a hook is a list such as [systemctl, stop, app] or {run: [...], timeout: 30s}")
}

// Validate reports problems through report(field, message).
func (hs *Hooks) Validate(report func(field, msg string)) {
	for phase, list := range map[string][]Hook{"before": hs.Before, "after": hs.After} {
		for i, h := range list {
			if len(h.Run) == 0 || h.Run[0] == "" {
				report(fmt.Sprintf("%s[%d]", phase, i), "empty command")
			}
		}
	}
	if hs.Timeout < 0 {
		report("timeout", "must not be negative")
	}
}

// String is the command as a user wrote it, for messages.
func (h Hook) String() string { return strings.Join(h.Run, " ") }

// RunBefore runs the before-hooks in order and stops at the first that fails.
func (hs Hooks) RunBefore(ctx context.Context, env []string, log *slog.Logger) error {
	for _, h := range hs.Before {
		if err := hs.run(ctx, "before", h, env, log); err != nil {
			return err
		}
	}
	return nil
}

// RunAfter runs every after-hook, even when one fails or ctx is done (a hook that
// restarts a service must run when a backup was cancelled), and returns their errors.
func (hs Hooks) RunAfter(ctx context.Context, env []string, log *slog.Logger) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, h := range hs.After {
		if err := hs.run(ctx, "after", h, env, log); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// HookError is a hook that failed; its message names the hook and the reason.
type HookError struct {
	Phase   string // before or after
	Command string
	Reason  string
}

func (e *HookError) Error() string {
	return fmt.Sprintf("%s-hook %q %s", e.Phase, e.Command, e.Reason)
}

const maxHookOutput = 64 << 10

func (hs Hooks) run(ctx context.Context, phase string, h Hook, env []string, log *slog.Logger) error {
	timeout := h.Timeout
	if timeout == 0 {
		timeout = hs.Timeout
	}
	if timeout == 0 {
		timeout = DefaultHookTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, h.Run[0], h.Run[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "CADANG_PHASE="+phase)
	var out capped
	out.max = maxHookOutput
	cmd.Stdout, cmd.Stderr = &out, &out
	// A hook may start children; on timeout the whole process group goes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second

	start := time.Now()
	err := cmd.Run()
	log.Info("hook finished", "phase", phase, "hook", h.String(), "took", time.Since(start).Round(time.Millisecond), "err", err, "output", out.String())
	if err == nil {
		return nil
	}
	reason := err.Error()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		reason = fmt.Sprintf("timed out after %s", timeout)
	case errors.Is(err, exec.ErrNotFound):
		reason = "not found in PATH"
	case errors.Is(ctx.Err(), context.Canceled):
		reason = "cancelled"
	default:
		if first := FirstLine(out.String()); first != "" {
			reason += ": " + first
		}
	}
	return &HookError{Phase: phase, Command: h.String(), Reason: reason}
}

// FirstLine returns the first non-empty line of s, trimmed and cut to 300 bytes.
func FirstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			if len(line) > 300 {
				line = line[:300] + "…"
			}
			return line
		}
	}
	return ""
}

// capped is a buffer that keeps the first max bytes written to it.
type capped struct {
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string { return c.buf.String() }

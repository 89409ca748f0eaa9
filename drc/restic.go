package drc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/cadang/cadang/internal/oneline"
)

// Typed restic failures, matched with errors.Is against an *Error. They follow restic's
// documented exit codes.
var (
	ErrPartial       = errors.New("some source files could not be read") // exit 3
	ErrNoRepository  = errors.New("repository does not exist")           // exit 10
	ErrLocked        = errors.New("repository is locked")                // exit 11
	ErrWrongPassword = errors.New("wrong password or no key found")      // exit 12
	ErrInterrupted   = errors.New("interrupted")                         // exit 130
	ErrResticMissing = errors.New("restic binary not found")
)

// Error is a restic command that failed. Its message is one line and never holds a
// secret: restic gets those through the environment and files only.
type Error struct {
	Op      string // backup, restore, init, ...
	DRC     string
	Code    int    // restic's exit code; -1 if it could not start or was killed
	Message string // restic's own reason, one line

	stderr string // the end of restic's stderr: its per-item errors (--json)
}

func (e *Error) Error() string {
	return fmt.Sprintf("restic %s at drc %q: %s", e.Op, e.DRC, e.Message)
}

// Is maps exit codes to the sentinel errors.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrPartial:
		return e.Code == 3
	case ErrNoRepository:
		return e.Code == 10
	case ErrLocked:
		return e.Code == 11
	case ErrWrongPassword:
		return e.Code == 12
	case ErrInterrupted:
		return e.Code == 130
	}
	return false
}

// Restic runs the restic binary.
type Restic struct {
	Binary string
	Logger *slog.Logger
	// StopGrace is how long a cancelled restic may take to end after SIGINT (it then
	// removes its lock) before it is killed. Default 30s.
	StopGrace time.Duration
	// StallTimeout is how long restic may retry a backend operation without making
	// progress before it is cancelled (see stall.go). 0 means DefaultStallTimeout; it
	// cannot be turned off.
	StallTimeout time.Duration
}

// FindRestic resolves the restic binary: the configured name or path if given, else
// the restic bundled by the package (../lib/cadang/restic from the executable's folder,
// so /usr/lib/cadang/restic for /usr/bin/cadang: it comes before /usr/bin/restic, which
// may be the distribution's older restic), else restic beside the running executable
// (bin/ of a checkout), else restic in PATH.
func FindRestic(configured string) (string, error) {
	if configured != "" {
		p, err := exec.LookPath(configured)
		if err != nil {
			return "", fmt.Errorf("%w: %s (set restic.binary, or run `make tools`)", ErrResticMissing, configured)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		for _, p := range []string{filepath.Join(dir, "..", "lib", "cadang", "restic"), filepath.Join(dir, "restic")} {
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return filepath.Clean(p), nil
			}
		}
	}
	p, err := exec.LookPath("restic")
	if err != nil {
		return "", fmt.Errorf("%w beside cadang nor in PATH (set restic.binary, or run `make tools`)", ErrResticMissing)
	}
	return p, nil
}

// Version returns restic's version line.
func (r *Restic) Version(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, r.Binary, "version").Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrResticMissing, r.Binary, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// call is one run of restic.
type call struct {
	op     string
	drc    string
	args   []string // after the global flags
	dir    string   // working directory, if not the daemon's
	env    []string // the whole environment restic gets
	stdout io.Writer
	onLine func(line []byte) // each stdout line, when stdout is nil
	// human: restic's own text output (no --json), its stderr copied to stdout as
	// well, for a person to read (Repo.Hand).
	human bool
}

// maxStderr bounds what is kept of restic's stderr; the end is kept, since the reason
// for a failure comes last.
const maxStderr = 64 << 10

// run executes restic and turns a failure into an *Error.
func (r *Restic) run(ctx context.Context, c call) error {
	args := append([]string{"--json"}, c.args...)
	if c.human {
		args = c.args
	}

	// The watchdog cancels restic through runCtx when it stalls; ctx is the caller's.
	wd := newWatchdog(r.stallTimeout(), time.Now)
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	log := r.Logger.With("op", c.op, "drc", c.drc)

	cmd := exec.CommandContext(runCtx, r.Binary, args...)
	cmd.Env = c.env
	cmd.Dir = c.dir
	// restic removes its lock when interrupted; a kill would leave it behind.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = r.StopGrace
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 30 * time.Second
	}
	// Not in the daemon's process group: a Ctrl-C at a terminal running the daemon in
	// the foreground must not reach restic before the daemon decides. But restic dies
	// with the daemon (Pdeathsig): a restic the daemon no longer watches would go on
	// and write a snapshot that no run records. Linux sends the signal when the thread
	// that started the child ends, not the process: the goroutine stays locked to
	// its thread until restic has ended (see startLocked).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr := &tail{max: maxStderr}
	retries := &lineWriter{max: 4 << 10, fn: func(line string) {
		if b, started := wd.stderrLine(line); started {
			log.Warn("restic retries a backend operation; it is cancelled if it makes no progress meanwhile",
				"action", b.action, "object", b.handle, "err", b.reason, "stall_timeout", wd.timeout)
		}
	}}
	cmd.Stderr = io.MultiWriter(stderr, retries)
	if c.human && c.stdout != nil {
		cmd.Stderr = io.MultiWriter(stderr, retries, c.stdout)
	}

	var pr *io.PipeReader
	var done chan struct{}
	switch {
	case c.stdout != nil:
		cmd.Stdout = progressWriter{w: c.stdout, wd: wd}
	case c.onLine != nil:
		var pw *io.PipeWriter
		pr, pw = io.Pipe()
		cmd.Stdout = pw
		done = make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			for sc.Scan() {
				wd.stdoutLine(sc.Bytes())
				c.onLine(sc.Bytes())
			}
			_, _ = io.Copy(io.Discard, pr)
		}()
		defer pw.Close()
	}

	start := time.Now()
	log.Debug("restic start", "args", c.args) // never holds a secret
	err := startLocked(cmd, func() error {
		if h := startHook(ctx); h != nil {
			h(cmd.Process.Pid)
		}
		stopWatch := wd.watch(runCtx, func(se *StallError) {
			log.Error("restic makes no progress: cancelled", "object", se.Handle, "action", se.Action,
				"err", se.Reason, "after", se.After)
			cancelRun(se)
		})
		defer stopWatch()
		return cmd.Wait()
	})
	if pr != nil {
		_ = cmd.Stdout.(*io.PipeWriter).Close()
		<-done
	}
	if err == nil {
		log.Debug("restic done", "took", time.Since(start).Round(time.Millisecond))
		return nil
	}
	var se *StallError
	if ctx.Err() == nil && errors.As(context.Cause(runCtx), &se) {
		e := *se
		e.Op, e.DRC = c.op, c.drc
		log.Debug("restic stalled", "took", time.Since(start).Round(time.Millisecond), "stderr", stderr.String())
		return &e
	}
	code := -1
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s", ErrResticMissing, r.Binary)
	}
	if ctx.Err() != nil && (code == -1 || code == 130) {
		code = 130
	}
	msg := exitMessage(stderr.String())
	if msg == "" {
		msg = err.Error()
	}
	if code == 130 && ctx.Err() != nil {
		msg = "interrupted: " + context.Cause(ctx).Error()
	}
	log.Debug("restic failed", "code", code, "took", time.Since(start).Round(time.Millisecond), "stderr", stderr.String())
	return &Error{Op: c.op, DRC: c.drc, Code: code, Message: msg, stderr: stderr.String()}
}

// startLocked starts cmd and runs wait, on one OS thread: a child with a Pdeathsig gets it
// when the thread that forked it ends, and Go ends a thread when a goroutine locked to
// it returns without unlocking, which some other goroutine could do with an unlocked
// thread. Locked here, the thread lives at least as long as the child is waited for.
func startLocked(cmd *exec.Cmd, wait func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err
	}
	return wait()
}

// exitMessage finds restic's reason in its stderr: the exit_error JSON message that
// --json prints, else the last line that looks like an error.
func exitMessage(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m struct {
			MessageType string `json:"message_type"`
			Message     string `json:"message"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.MessageType == "exit_error" {
			return resticLine(m.Message)
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if line := strings.TrimSpace(lines[i]); line != "" && !strings.HasPrefix(line, "{") {
			return resticLine(line)
		}
	}
	return ""
}

// tail keeps the last max bytes written to it.
type tail struct {
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.buf) }

// resticLine is restic's message as one line: its first non-empty line, without
// restic's "Fatal: " prefix. The lines after it are restic's hints to its own users
// ("lock was created at ...", "the unlock command can be used") that do not apply to
// cadang's, which has its own (cadang unlock).
func resticLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "Fatal:")); line != "" {
			return oneline.Of(line)
		}
	}
	return ""
}

package dbdump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Tool is a dump tool (pg_dump, pg_dumpall, mariadb-dump) whose standard output is the
// dump.
type Tool struct {
	Argv []string
	Env  []string // the whole environment
	// Started, if set, is shown each line the tool prints on its standard error and
	// reports whether the tool has taken its snapshot by then (tools print progress
	// with --verbose). Without it a dump counts as started at once.
	Started func(line string) bool
	// Clean rewrites a line of standard error before it is kept; "" drops it.
	Clean func(line string) string
	// Stdin, if set, is the tool's standard input.
	Stdin io.Reader
	// Files are extra files the tool inherits, from descriptor 3 on (Secret.Files).
	Files []*os.File
	// Observe, if set, sees the bytes of the dump as they pass (the copy then goes
	// through user space): it counts what the dump holds. It sees nothing more after it
	// returns an error, and its errors do not fail the dump.
	Observe io.Writer
}

// Running is a tool that runs.
type Running struct {
	// Started is closed once the tool has taken its snapshot or has ended.
	Started <-chan struct{}

	cmd     *exec.Cmd
	log     *ToolLog
	bytes   atomic.Int64
	ctx     context.Context
	name    string
	observe io.Writer

	done    chan struct{}
	copyErr error // set before done is closed
	waitErr error
}

// Start starts the tool; its standard output is copied to out.
func (t Tool) Start(ctx context.Context, out io.Writer) (*Running, error) {
	cmd := exec.CommandContext(ctx, t.Argv[0], t.Argv[1:]...)
	cmd.Env = t.Env
	cmd.Stdin = t.Stdin
	cmd.ExtraFiles = t.Files
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	started := make(chan struct{})
	var once sync.Once
	markStarted := func() { once.Do(func() { close(started) }) }
	log := &ToolLog{Clean: t.Clean}
	if t.Started != nil {
		log.Line = func(line string) {
			if t.Started(line) {
				markStarted()
			}
		}
	}
	cmd.Stderr = log
	stdout, w, err := dumpPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close() // the tool has it; the read end sees EOF when the tool ends
	if err != nil {
		stdout.Close()
		return nil, toolStartError(t.Argv[0], err)
	}
	if t.Started == nil {
		markStarted()
	}
	r := &Running{Started: started, cmd: cmd, log: log, done: make(chan struct{}), ctx: ctx, name: t.Argv[0], observe: t.Observe}
	go func() {
		r.copyErr = r.copy(out, stdout)
		stdout.Close()
		if r.copyErr != nil {
			// The reader of the dump went away: stop the tool rather than let it block.
			_ = cmd.Process.Kill()
		}
		r.waitErr = cmd.Wait()
		close(r.done)
		markStarted()
	}()
	return r, nil
}

// copy moves the dump to out, counting bytes: with splice(2) when out is a pipe or a
// file (the dump's pages move from pipe to pipe inside the kernel: a process in the
// middle of the stream costs next to nothing), else with a large buffer.
func (r *Running) copy(out io.Writer, in *os.File) error {
	if r.observe != nil {
		// Through user space while the observer takes the bytes; once it has all it wants
		// (pg_restore --list exits after the table of contents), the rest moves as
		// without one.
		ob := &observed{w: out, o: r.observe}
		if ended, err := r.copyUntil(ob, in, func() bool { return ob.done }); ended || err != nil {
			return err
		}
	}
	if f, ok := out.(*os.File); ok {
		handled, err := r.splice(f, in)
		if handled {
			return err
		}
	}
	return r.copyBuffer(out, in)
}

func (r *Running) copyBuffer(out io.Writer, in io.Reader) error {
	_, err := r.copyUntil(out, in, nil)
	return err
}

// copyUntil copies until the tool's output ends (ended) or stop, if set, says so.
func (r *Running) copyUntil(out io.Writer, in io.Reader, stop func() bool) (ended bool, err error) {
	buf := make([]byte, 1<<20)
	for {
		if stop != nil && stop() {
			return false, nil
		}
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return true, fmt.Errorf("writing the dump: %w", werr)
			}
			r.bytes.Add(int64(n))
		}
		if err != nil {
			return true, nil // the end, or the tool ended: Wait reports how
		}
	}
}

// observed writes to w and shows o the same bytes while o takes them.
type observed struct {
	w    io.Writer
	o    io.Writer
	done bool
}

func (x *observed) Write(p []byte) (int, error) {
	n, err := x.w.Write(p)
	if !x.done && n > 0 {
		if _, oerr := x.o.Write(p[:n]); oerr != nil {
			x.done = true
		}
	}
	return n, err
}

// Wait waits for the tool to end and returns the bytes it wrote. A tool that fails
// returns its own reason (ToolLog.Reason: the first error line and the lines that say
// why, on one line).
func (r *Running) Wait() (int64, error) {
	<-r.done
	cerr, werr := r.copyErr, r.waitErr
	n := r.bytes.Load()
	switch {
	case r.ctx.Err() != nil:
		return n, context.Cause(r.ctx)
	case werr != nil:
		if reason := r.log.Reason(); reason != "" {
			return n, errors.New(reason)
		}
		return n, fmt.Errorf("%s: %v", r.name, werr)
	case cerr != nil:
		return n, cerr
	}
	return n, nil
}

// Done is closed when the tool has ended.
func (r *Running) Done() <-chan struct{} { return r.done }

// Log returns what the tool printed on its standard error.
func (r *Running) Log() *ToolLog { return r.log }

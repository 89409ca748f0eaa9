package dbdump

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Client says how to run a SQL command-line client (psql, mariadb) as a session that
// reads statements on its standard input and prints results on its standard output,
// one row per line, and stops at the first error.
type Client struct {
	Argv []string
	Env  []string // the whole environment (see BaseEnv)
	// Marker returns a statement that makes the client print token on a line of its
	// own: the end of a result.
	Marker func(token string) string
	// Clean turns a line of the client's standard error into the message reported,
	// e.g. without the "psql:<stdin>:3: " prefix of errors in a script.
	Clean func(line string) string
	// Files are extra files the client inherits, from descriptor 3 on (Secret.Files).
	Files []*os.File
}

// Session is a running client. Its methods are not safe for concurrent use, except
// Kill.
type Session struct {
	c      Client
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *ToolLog
	n      int
	err    error // set once the session has ended

	endOnce sync.Once
	waitErr error
}

// Start starts a session. The client connects when it reads its first statement, so
// connection errors come from the first Query.
func (c Client) Start(ctx context.Context) (*Session, error) {
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Env = c.Env
	cmd.ExtraFiles = c.Files
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	s := &Session{c: c, cmd: cmd, stderr: &ToolLog{Clean: c.Clean}}
	cmd.Stderr = s.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, toolStartError(c.Argv[0], err)
	}
	s.stdin, s.out = stdin, bufio.NewReaderSize(stdout, 64<<10)
	return s, nil
}

func toolStartError(name string, err error) error {
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("%s not found: install the database client tools (or set bin_dir)", name)
	}
	return fmt.Errorf("cannot start %s: %w", name, err)
}

// Query sends statements and returns the lines they print.
func (s *Session) Query(ctx context.Context, sql string) ([]string, error) {
	if s.err != nil {
		return nil, s.err
	}
	s.n++
	token := fmt.Sprintf("__cadang_end_%d__", s.n)
	if _, err := io.WriteString(s.stdin, sql+"\n"+s.c.Marker(token)+"\n"); err != nil {
		return nil, s.fail(ctx)
	}
	var lines []string
	for {
		line, err := s.out.ReadString('\n')
		if err != nil {
			return nil, s.fail(ctx)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == token {
			return lines, nil
		}
		lines = append(lines, line)
	}
}

// JSON runs a query that prints one line of JSON and decodes it into v.
func (s *Session) JSON(ctx context.Context, sql string, v any) error {
	lines, err := s.Query(ctx, sql)
	if err != nil {
		return err
	}
	var last string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			last = l
		}
	}
	if err := json.Unmarshal([]byte(last), v); err != nil {
		return fmt.Errorf("%s printed something unexpected (%v): %.200q", s.c.Argv[0], err, strings.Join(lines, "\n"))
	}
	return nil
}

// end closes the client's input and waits for it to exit.
func (s *Session) end() error {
	s.endOnce.Do(func() {
		s.stdin.Close()
		_, _ = io.Copy(io.Discard, s.out)
		s.waitErr = s.cmd.Wait()
	})
	return s.waitErr
}

// fail ends a session whose client stopped answering and returns why: the client's own
// first error line.
func (s *Session) fail(ctx context.Context) error {
	werr := s.end()
	switch {
	case ctx.Err() != nil:
		s.err = context.Cause(ctx)
	case s.stderr.First() != "":
		s.err = errors.New(s.stderr.First())
	case werr != nil:
		s.err = fmt.Errorf("%s: %v", s.c.Argv[0], werr)
	default:
		s.err = fmt.Errorf("%s ended unexpectedly", s.c.Argv[0])
	}
	return s.err
}

var errClosed = errors.New("session closed")

// Close ends the session: the client reads the end of its input and exits. It reports
// an error the client printed on its way out.
func (s *Session) Close() error {
	if s.err != nil {
		s.end()
		return nil
	}
	s.err = errClosed
	if err := s.end(); err != nil {
		if first := s.stderr.First(); first != "" {
			return errors.New(first)
		}
		return fmt.Errorf("%s: %v", s.c.Argv[0], err)
	}
	return nil
}

// Kill stops the client at once (the server rolls back an open transaction). It may be
// called from any goroutine; a Query under way then fails. Close still has to be called.
func (s *Session) Kill() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
}

// ToolLog collects what a tool prints on its standard error: the first line that
// reports an error (or, failing that, the first line) and the last lines.
type ToolLog struct {
	// Clean, if set, rewrites each line before it is kept (and may return "" to drop
	// lines that are progress, not problems).
	Clean func(line string) string
	// Line, if set, sees every raw line.
	Line func(line string)

	mu      sync.Mutex
	partial []byte
	first   string
	after   []string // the lines that follow the first error line: usually why
	anyLine string
	tail    []string
}

// Bounds of what a log keeps.
const (
	toolLogTail  = 20
	reasonLines  = 4   // lines kept after the first error line
	reasonLength = 600 // bytes of a reason, at most
)

func (l *ToolLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := strings.IndexByte(string(l.partial), '\n')
		if i < 0 {
			break
		}
		l.add(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > 64<<10 { // a line that never ends
		l.add(string(l.partial))
		l.partial = nil
	}
	return len(p), nil
}

func (l *ToolLog) add(raw string) {
	if l.Line != nil {
		l.Line(raw)
	}
	line := strings.TrimSpace(raw)
	if l.Clean != nil && line != "" {
		line = strings.TrimSpace(l.Clean(line))
	}
	if line == "" {
		return
	}
	if l.anyLine == "" {
		l.anyLine = line
	}
	switch {
	case l.first == "" && looksLikeError(line):
		l.first = line
	case l.first != "" && len(l.after) < reasonLines:
		l.after = append(l.after, line)
	}
	l.tail = append(l.tail, line)
	if len(l.tail) > toolLogTail {
		l.tail = l.tail[1:]
	}
}

// looksLikeError tells an error line from a notice: PostgreSQL's tools say "error:",
// "FATAL:" or "ERROR:", MariaDB's "ERROR 1045", "Got error" or "Couldn't execute".
func looksLikeError(line string) bool {
	low := strings.ToLower(line)
	for _, s := range []string{"error", "fatal", "couldn't", "could not", "denied", "failed", "can't", "cannot", "unknown"} {
		if strings.Contains(low, s) {
			return true
		}
	}
	return false
}

// First returns the first error line (or the first line if none looks like an error),
// at most 300 bytes.
func (l *ToolLog) First() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.add(string(l.partial))
		l.partial = nil
	}
	s := l.first
	if s == "" {
		s = l.anyLine
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// Reason returns why a tool failed, on one line: its first error line and the few
// lines after it (where the tools say the cause: "server closed the connection
// unexpectedly", "terminating connection due to administrator command"), joined with
// "; ", at most reasonLength bytes. Without an error line it is First.
func (l *ToolLog) Reason() string {
	first := l.First()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first == "" {
		return first
	}
	s := strings.Join(append([]string{l.first}, l.after...), "; ")
	if len(s) > reasonLength {
		s = strings.ToValidUTF8(s[:reasonLength], "") + "…"
	}
	return s
}

// FirstError returns the first line that looks like an error, or "".
func (l *ToolLog) FirstError() string {
	l.First()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

// Tail returns the last lines.
func (l *ToolLog) Tail() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.tail...)
}

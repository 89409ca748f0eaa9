package drc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/cadang/cadang/internal/oneline"
)

// A restic whose backend keeps failing one object (a pack the object store cannot read
// whole, its bitrot checksum failing) retries it with back-off for about 15 minutes,
// its progress frozen, holding a queue slot and the repository. The watchdog here bounds
// that: it arms when restic says it retries a backend operation, and when restic then
// makes no progress for StallTimeout it cancels restic (SIGINT, killed after StopGrace)
// and the call fails with a *StallError naming the object.

// DefaultStallTimeout is the StallTimeout of a Restic that sets none.
const DefaultStallTimeout = 2 * time.Minute

// ErrStalled matches a *StallError (errors.Is).
var ErrStalled = errors.New("restic made no progress while retrying a backend operation")

// StallError is a restic command cancelled by the watchdog: restic kept retrying a
// backend operation and made no progress for After. Its message is one line.
type StallError struct {
	Op     string // restore, check, ...
	DRC    string
	Agency string // "" when the call was not for one agency's repository
	// Object is the repository-relative name of the object restic could not get past,
	// in cadang's naming ("data/ab/ab12...", "index/...", "config"); "" when restic's
	// short name of it matched no single object.
	Object string
	After  time.Duration
	// Handle is restic's own short name of the object or listing, e.g.
	// "<data/ab12345678>" or "data" (a List).
	Handle string
	// Action is restic's backend operation: Load, Save, Stat, Remove, List.
	Action string
	// Reason is restic's last error for it, e.g. "unexpected EOF".
	Reason string

	prefix string // what Handle names: an object name or the start of one
	full   bool   // prefix is a whole object name
}

func (e *StallError) Error() string {
	where := fmt.Sprintf("%s at drc %q", e.Op, e.DRC)
	if e.Agency != "" {
		where += fmt.Sprintf(" (agency %q)", e.Agency)
	}
	what := e.Object
	if what == "" {
		what = e.Handle
	}
	doing, outcome := "reading", "object unreadable"
	switch e.Action {
	case "Save":
		doing, outcome = "writing", "object cannot be written"
	case "Remove":
		doing, outcome = "removing", "object cannot be removed"
	case "List":
		doing, outcome, what = "listing", "listing fails", strings.TrimSuffix(what, "/")+"/"
	}
	if e.Reason != "" {
		outcome += " (" + e.Reason + ")"
	}
	return oneline.Of(fmt.Sprintf("%s: no progress for %s while %s %s: %s, cancelled", where, e.After, doing, what, outcome))
}

// Is makes a *StallError match ErrStalled. It does not match ErrInterrupted: nobody
// asked for the cancel, the repository did not answer.
func (e *StallError) Is(target error) bool { return target == ErrStalled }

// stallTimeout is r.StallTimeout or its default.
func (r *Restic) stallTimeout() time.Duration {
	if r.StallTimeout > 0 {
		return r.StallTimeout
	}
	return DefaultStallTimeout
}

// backendLine is one of restic's stderr lines about a backend operation that failed:
//
//	Load(<data/f5fa2760c1>, 9000550, 0) returned error, retrying after 1.18s: unexpected EOF
//	Load(<data/f5fa2760c1>, 9000550, 0) operation successful after 3 retries
//	Load(<data/f5fa2760c1>, 9000550, 0) failed: unexpected EOF
//	List(data) returned error, retrying after 552ms: ...
//
// restic names an object by its type and the first 10 characters of its name.
type backendLine struct {
	action string // Load, Save, Stat, Remove, List
	handle string // "<data/f5fa2760c1>", or "data" for a List
	event  string // retry, ok (the retry succeeded), failed (restic gave up)
	reason string // restic's error
}

var backendLineRE = regexp.MustCompile(`^([A-Z][A-Za-z]*)\((.*?)\) (?:returned error, retrying after \S+?: (.*)|operation successful after \d+ retries|failed: (.*))$`)

// parseBackendLine recognizes one of restic's lines about a failed backend operation.
func parseBackendLine(line string) (backendLine, bool) {
	line = strings.TrimSpace(strings.ReplaceAll(line, "\x1b[2K", ""))
	if i := strings.LastIndexByte(line, '\r'); i >= 0 {
		line = strings.TrimSpace(line[i+1:])
	}
	m := backendLineRE.FindStringSubmatch(line)
	if m == nil {
		return backendLine{}, false
	}
	b := backendLine{action: m[1], handle: m[2]}
	if strings.HasPrefix(b.handle, "<") {
		end := strings.IndexByte(b.handle, '>')
		if end < 0 {
			return backendLine{}, false
		}
		b.handle = b.handle[:end+1]
	} else if i := strings.IndexByte(b.handle, ','); i >= 0 {
		b.handle = b.handle[:i]
	}
	switch {
	case strings.Contains(line, ") returned error, retrying after "):
		b.event, b.reason = "retry", m[3]
	case strings.Contains(line, ") operation successful after "):
		b.event = "ok"
	default:
		b.event, b.reason = "failed", m[4]
	}
	b.reason = oneline.Of(b.reason)
	return b, true
}

// resticDirs maps restic's file types to the folders of a repository.
var resticDirs = map[string]string{"data": "data/", "key": "keys/", "lock": "locks/", "snapshot": "snapshots/", "index": "index/"}

// handleObject turns restic's name of an object ("<data/f5fa2760c1>") into cadang's
// ("data/f5/f5fa2760c1..."): the whole name when restic printed all of it, else its
// start (full false), to be looked up in the repository.
func handleObject(handle string) (name string, full bool) {
	if !strings.HasPrefix(handle, "<") || !strings.HasSuffix(handle, ">") {
		return "", false
	}
	typ, id, ok := strings.Cut(handle[1:len(handle)-1], "/")
	if !ok {
		return "", false
	}
	if typ == "config" {
		return "config", true
	}
	dir, known := resticDirs[typ]
	if !known || id == "" || strings.ContainsAny(id, "/.") {
		return "", false
	}
	full = len(id) == 64
	if typ == "data" {
		if len(id) < 2 {
			return "", false
		}
		return dir + id[:2] + "/" + id, full
	}
	return dir + id, full
}

// resolve sets e.Object: the one object of store whose name starts with what restic
// printed of it. A name that matches none or several stays unset.
func (e *StallError) resolve(ctx context.Context, store Store) {
	if e.prefix == "" || e.Object != "" {
		return
	}
	if e.full || store == nil {
		e.Object = e.prefix
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	var found []string
	errMany := errors.New("several objects")
	err := store.List(ctx, e.prefix, func(o ObjectInfo) error {
		found = append(found, o.Name)
		if len(found) > 1 {
			return errMany
		}
		return nil
	})
	if err == nil && len(found) == 1 {
		e.Object = found[0]
	}
}

// watchdog follows restic's output and says when restic is stalled: it retries a
// backend operation and has made no progress for timeout. Progress is a stdout line
// that says something new (restic repeats its status lines unchanged while stuck; the
// seconds it counts do not count), stdout bytes of a command that writes data (dump),
// or a retried operation that succeeded. Lines about retries are never progress. The
// time runs from the later of the oldest operation still being retried and the last
// progress; an operation leaves the count when it succeeds or restic gives it up.
type watchdog struct {
	timeout time.Duration

	mu       sync.Mutex
	now      func() time.Time
	progress time.Time // last progress
	retrying map[string]*retried
	lastOut  []byte // the last stdout line, normalized
	fired    *StallError
}

type retried struct {
	action, reason string
	first          time.Time
}

func newWatchdog(timeout time.Duration, now func() time.Time) *watchdog {
	return &watchdog{timeout: timeout, now: now, retrying: map[string]*retried{}}
}

// stderrLine takes one line of restic's stderr; it reports whether the line started a
// retry (restic's first retry of an operation).
func (w *watchdog) stderrLine(line string) (b backendLine, started bool) {
	b, ok := parseBackendLine(line)
	if !ok {
		return b, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	switch b.event {
	case "retry":
		r := w.retrying[b.handle]
		if r == nil {
			r = &retried{first: now}
			w.retrying[b.handle] = r
			started = true
		}
		r.action, r.reason = b.action, b.reason
	case "ok":
		delete(w.retrying, b.handle)
		w.progress = now
	case "failed":
		delete(w.retrying, b.handle)
	}
	return b, started
}

// stdoutLine takes one line of restic's stdout: progress when it says something new.
func (w *watchdog) stdoutLine(line []byte) {
	n := normalizeStatus(line)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !bytes.Equal(n, w.lastOut) {
		w.lastOut = n
		w.progress = w.now()
	}
}

// progressed records progress (bytes written by restic).
func (w *watchdog) progressed() {
	w.mu.Lock()
	w.progress = w.now()
	w.mu.Unlock()
}

// normalizeStatus is a stdout line without what changes with time alone: the seconds
// of restic's JSON status lines.
func normalizeStatus(line []byte) []byte {
	line = bytes.TrimSpace(line)
	if !bytes.HasPrefix(line, []byte("{")) {
		return bytes.Clone(line)
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(line, &m) != nil {
		return bytes.Clone(line)
	}
	delete(m, "seconds_elapsed")
	delete(m, "seconds_remaining")
	b, err := json.Marshal(m) // keys sorted
	if err != nil {
		return bytes.Clone(line)
	}
	return b
}

// check says whether restic is stalled at now; once it has said so, it keeps saying it.
// The error has no Op, DRC or Agency yet.
func (w *watchdog) check() *StallError {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fired != nil {
		return w.fired
	}
	if len(w.retrying) == 0 {
		return nil
	}
	var oldest string
	for h, r := range w.retrying {
		if oldest == "" || r.first.Before(w.retrying[oldest].first) || (r.first.Equal(w.retrying[oldest].first) && h < oldest) {
			oldest = h
		}
	}
	r := w.retrying[oldest]
	from := r.first
	if w.progress.After(from) {
		from = w.progress
	}
	now := w.now()
	if now.Sub(from) < w.timeout {
		return nil
	}
	se := &StallError{After: now.Sub(from).Truncate(time.Second), Handle: oldest, Action: r.action, Reason: r.reason}
	se.prefix, se.full = handleObject(oldest)
	if r.action == "List" {
		se.prefix, se.full = "", false
		if dir, ok := resticDirs[oldest]; ok {
			se.Handle = strings.TrimSuffix(dir, "/")
		}
	}
	w.fired = se
	return se
}

// tick is how often the watchdog looks.
func (w *watchdog) tick() time.Duration {
	return min(max(w.timeout/8, 10*time.Millisecond), time.Second)
}

// watch calls fire once, when restic is stalled, until stop is called or ctx ends.
func (w *watchdog) watch(ctx context.Context, fire func(*StallError)) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(w.tick())
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if se := w.check(); se != nil {
					fire(se)
					return
				}
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

// lineWriter calls fn with every whole line written to it. A line longer than max is
// cut there.
type lineWriter struct {
	fn  func(string)
	buf []byte
	max int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.buf = append(l.buf, p...)
			for len(l.buf) > l.max {
				l.fn(string(l.buf[:l.max]))
				l.buf = append(l.buf[:0], l.buf[l.max:]...)
			}
			break
		}
		l.buf = append(l.buf, p[:i]...)
		l.fn(string(l.buf))
		l.buf = l.buf[:0]
		p = p[i+1:]
	}
	return n, nil
}

// progressWriter reports every write to w as progress.
type progressWriter struct {
	w  io.Writer
	wd *watchdog
}

func (p progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if n > 0 {
		p.wd.progressed()
	}
	return n, err
}

package drc

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// The reads and writes cadang does itself, without restic (the mirror's copies, the
// native restore of log batches), are bounded the way restic's are (stall.go): an
// object store that stops answering in the middle of an object, without failing,
// would otherwise hold the call, its queue slot and its repository until somebody
// cancels it. A Watch cancels them when they make no progress for the stall timeout.

// StallTimeout is how long a read or write of this repository's objects may make no
// progress before it is given up: restic's StallTimeout (restic.stall_timeout), the
// one setting for restic and for cadang's own transfers.
func (r *Repo) StallTimeout() time.Duration {
	if r.site == nil || r.site.restic == nil {
		return DefaultStallTimeout
	}
	return r.site.restic.stallTimeout()
}

// Watch is a context that is cancelled when nothing has made progress (Kick, or a
// Read through Reader that returns bytes) for its timeout. Stop it when done.
type Watch struct {
	ctx     context.Context
	cancel  context.CancelFunc
	timeout time.Duration
	start   time.Time    // with its monotonic reading: a step of the wall clock is no stall
	last    atomic.Int64 // the last progress, as time since start
	fired   atomic.Bool

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

// NewWatch starts a watch of timeout (DefaultStallTimeout if it is not positive)
// under ctx.
func NewWatch(ctx context.Context, timeout time.Duration) *Watch {
	if timeout <= 0 {
		timeout = DefaultStallTimeout
	}
	w := &Watch{timeout: timeout, start: time.Now()}
	w.ctx, w.cancel = context.WithCancel(ctx)
	w.mu.Lock()
	w.timer = time.AfterFunc(timeout, w.check)
	w.mu.Unlock()
	return w
}

// check runs when the timeout may have passed: it cancels the context if it has
// since the last progress, and looks again at the time it would otherwise.
// (Progress only stores a time: the timer is not reset on every read.)
func (w *Watch) check() {
	idle := time.Since(w.start) - time.Duration(w.last.Load())
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if idle >= w.timeout {
		w.fired.Store(true)
		w.cancel()
		return
	}
	w.timer.Reset(w.timeout - idle)
}

// Context is cancelled when the watch fires, when Stop is called, or with its parent.
func (w *Watch) Context() context.Context { return w.ctx }

// Kick says progress was made.
func (w *Watch) Kick() { w.last.Store(int64(time.Since(w.start))) }

// Fired says whether the watch cancelled its context for want of progress.
func (w *Watch) Fired() bool { return w.fired.Load() }

// Timeout is the watch's timeout.
func (w *Watch) Timeout() time.Duration { return w.timeout }

// Stop ends the watch and cancels its context.
func (w *Watch) Stop() {
	w.mu.Lock()
	w.stopped = true
	w.timer.Stop()
	w.mu.Unlock()
	w.cancel()
}

// Reader passes r's reads on; each that returns bytes is progress.
func (w *Watch) Reader(r io.Reader) io.Reader { return &watchedReader{r: r, w: w} }

type watchedReader struct {
	r io.Reader
	w *Watch
}

func (r *watchedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.w.Kick()
	}
	return n, err
}

// Watched is r's store with its reads (Get, GetRange) watched: one that makes no
// progress for r's stall timeout is cancelled and fails with a *StallError naming the
// object, op being what read it (replication, restore, drill, repair, read). Writes
// and listings are r's store's own. It is for cadang's own reads (the mirror's walks of
// indexes and trees, the native restore of log batches, the packs a drill or a repair
// reads whole); restic has its own watchdog.
func (r *Repo) Watched(op string) Store {
	return &watchedStore{Store: r.Store, op: op, drc: r.DRC, agency: r.Agency, stall: r.StallTimeout()}
}

type watchedStore struct {
	Store
	op, drc, agency string
	stall           time.Duration
}

var _ rangeGetter = (*watchedStore)(nil) // ranged reads stay ranged

func (s *watchedStore) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	return s.get(ctx, name, func(ctx context.Context) (io.ReadCloser, error) { return s.Store.Get(ctx, name) })
}

func (s *watchedStore) GetRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	return s.get(ctx, name, func(ctx context.Context) (io.ReadCloser, error) {
		return GetRange(ctx, s.Store, name, offset, length)
	})
}

func (s *watchedStore) get(ctx context.Context, name string, open func(context.Context) (io.ReadCloser, error)) (io.ReadCloser, error) {
	w := NewWatch(ctx, s.stall)
	rc, err := open(w.Context())
	if err != nil {
		w.Stop()
		if w.Fired() && ctx.Err() == nil {
			return nil, s.stalled(name)
		}
		return nil, err
	}
	return &watchedReadCloser{rc: rc, w: w, s: s, name: name, parent: ctx}, nil
}

func (s *watchedStore) stalled(name string) error {
	return &StallError{Op: s.op, DRC: s.drc, Agency: s.agency, Object: name, Handle: name, After: s.stall,
		Action: "Load", Reason: "the store stopped sending", prefix: name, full: true}
}

type watchedReadCloser struct {
	rc     io.ReadCloser
	w      *Watch
	s      *watchedStore
	name   string
	parent context.Context
}

func (r *watchedReadCloser) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.w.Kick()
	}
	if err != nil && err != io.EOF && r.w.Fired() && r.parent.Err() == nil {
		err = r.s.stalled(r.name)
	}
	return n, err
}

func (r *watchedReadCloser) Close() error {
	err := r.rc.Close()
	r.w.Stop()
	return err
}

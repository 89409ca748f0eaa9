package storetest

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
)

// Faulty wraps a Store and injects faults, as kopia's blobtesting.FaultyStorage does:
// errors on chosen calls, and reads that are slow, short, cut off or damaged. It also
// logs every call, so that a test can check what was done and in which order. Sub
// stores share the faults and the log.
type Faulty struct {
	inner  drc.Store
	prefix string // of Sub stores, for the log
	state  *faultyState
}

type faultyState struct {
	mu     sync.Mutex
	faults []*Fault
	log    []Call
}

// Call is one logged call.
type Call struct {
	Op     string // Stat, Get, GetRange, Put, Delete, List
	Object string // with the Sub folders, '/'-separated
	Err    error
}

// Fault says which calls fail and how. A zero field matches anything.
type Fault struct {
	Op    string // Stat, Get, GetRange, Put, Delete, List
	Match string // a substring of the object name (or list prefix)
	Skip  int    // the first Skip matching calls pass untouched
	Times int    // how many matching calls it affects after those; 0: all of them

	Err       error         // the call returns this error
	ReadDelay time.Duration // Get: every Read sleeps this long first
	ShortRead int64         // Get: the content ends (io.EOF) after this many bytes
	FailAfter int64         // Get: reading fails with ReadErr after this many bytes
	ReadErr   error         // with FailAfter (default: "injected read failure")
	Flip      bool          // Get: byte FlipByte of the content comes back changed
	FlipByte  int64

	seen  int
	fired int
}

// NewFaulty wraps s.
func NewFaulty(s drc.Store) *Faulty {
	return &Faulty{inner: s, state: &faultyState{}}
}

var _ drc.Store = (*Faulty)(nil) // interface guard

// Add adds a fault; faults are tried in the order added.
func (f *Faulty) Add(ft Fault) *Fault {
	f.state.mu.Lock()
	defer f.state.mu.Unlock()
	p := &ft
	f.state.faults = append(f.state.faults, p)
	return p
}

// Clear removes every fault.
func (f *Faulty) Clear() {
	f.state.mu.Lock()
	defer f.state.mu.Unlock()
	f.state.faults = nil
}

// Fired returns how many calls the fault affected.
func (f *Faulty) Fired(ft *Fault) int {
	f.state.mu.Lock()
	defer f.state.mu.Unlock()
	return ft.fired
}

// Log returns the calls made so far.
func (f *Faulty) Log() []Call {
	f.state.mu.Lock()
	defer f.state.mu.Unlock()
	return append([]Call(nil), f.state.log...)
}

// ResetLog forgets the calls made so far.
func (f *Faulty) ResetLog() {
	f.state.mu.Lock()
	defer f.state.mu.Unlock()
	f.state.log = nil
}

func (f *Faulty) match(op, name string) *Fault {
	f.state.mu.Lock()
	defer f.state.mu.Unlock()
	for _, ft := range f.state.faults {
		if (ft.Op == "" || ft.Op == op) && strings.Contains(f.prefix+name, ft.Match) && (ft.Times == 0 || ft.fired < ft.Times) {
			if ft.seen++; ft.seen <= ft.Skip {
				continue
			}
			ft.fired++
			c := *ft
			return &c
		}
	}
	return nil
}

func (f *Faulty) record(op, name string, err error) {
	f.state.mu.Lock()
	defer f.state.mu.Unlock()
	f.state.log = append(f.state.log, Call{Op: op, Object: f.prefix + name, Err: err})
}

// Location names the wrapped store.
func (f *Faulty) Location() string { return "faulty:" + f.inner.Location() }

// Sub returns the wrapped store's folder, with the same faults.
func (f *Faulty) Sub(folder string) drc.Store {
	return &Faulty{inner: f.inner.Sub(folder), prefix: f.prefix + strings.Trim(folder, "/") + "/", state: f.state}
}

// Stat calls the wrapped store unless a fault says otherwise.
func (f *Faulty) Stat(ctx context.Context, name string) (drc.ObjectInfo, error) {
	if ft := f.match("Stat", name); ft != nil && ft.Err != nil {
		f.record("Stat", name, ft.Err)
		return drc.ObjectInfo{}, ft.Err
	}
	info, err := f.inner.Stat(ctx, name)
	f.record("Stat", name, err)
	return info, err
}

// Get calls the wrapped store and damages what it reads as a fault says.
func (f *Faulty) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	return f.get(ctx, "Get", name, func() (io.ReadCloser, error) { return f.inner.Get(ctx, name) })
}

// GetRange reads part of an object, with the faults of Get.
func (f *Faulty) GetRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	return f.get(ctx, "GetRange", name, func() (io.ReadCloser, error) { return drc.GetRange(ctx, f.inner, name, offset, length) })
}

func (f *Faulty) get(ctx context.Context, op, name string, open func() (io.ReadCloser, error)) (io.ReadCloser, error) {
	ft := f.match(op, name)
	if ft != nil && ft.Err != nil {
		f.record(op, name, ft.Err)
		return nil, ft.Err
	}
	rc, err := open()
	f.record(op, name, err)
	if err != nil || ft == nil {
		return rc, err
	}
	return &faultyReader{ctx: ctx, rc: rc, ft: *ft}, nil
}

type faultyReader struct {
	ctx context.Context
	rc  io.ReadCloser
	ft  Fault
	n   int64
}

func (r *faultyReader) Read(p []byte) (int, error) {
	if r.ft.ReadDelay > 0 {
		select {
		case <-time.After(r.ft.ReadDelay):
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
	limit := int64(-1)
	if r.ft.ShortRead > 0 {
		limit = r.ft.ShortRead
	}
	if r.ft.FailAfter > 0 && (limit < 0 || r.ft.FailAfter < limit) {
		limit = r.ft.FailAfter
	}
	if limit >= 0 {
		if r.n >= limit {
			if r.ft.ShortRead > 0 && r.ft.ShortRead == limit {
				return 0, io.EOF
			}
			if r.ft.ReadErr != nil {
				return 0, r.ft.ReadErr
			}
			return 0, errors.New("injected read failure")
		}
		if rem := limit - r.n; int64(len(p)) > rem {
			p = p[:rem]
		}
	}
	n, err := r.rc.Read(p)
	if r.ft.Flip && r.ft.FlipByte >= r.n && r.ft.FlipByte < r.n+int64(n) {
		p[r.ft.FlipByte-r.n] ^= 0x55
	}
	r.n += int64(n)
	return n, err
}

func (r *faultyReader) Close() error { return r.rc.Close() }

// Put calls the wrapped store unless a fault says otherwise.
func (f *Faulty) Put(ctx context.Context, name string, rd io.Reader, size int64) error {
	if ft := f.match("Put", name); ft != nil && ft.Err != nil {
		f.record("Put", name, ft.Err)
		return ft.Err
	}
	err := f.inner.Put(ctx, name, rd, size)
	f.record("Put", name, err)
	return err
}

// Delete calls the wrapped store unless a fault says otherwise.
func (f *Faulty) Delete(ctx context.Context, name string) error {
	if ft := f.match("Delete", name); ft != nil && ft.Err != nil {
		f.record("Delete", name, ft.Err)
		return ft.Err
	}
	err := f.inner.Delete(ctx, name)
	f.record("Delete", name, err)
	return err
}

// List calls the wrapped store unless a fault says otherwise.
func (f *Faulty) List(ctx context.Context, prefix string, fn func(drc.ObjectInfo) error) error {
	if ft := f.match("List", prefix); ft != nil && ft.Err != nil {
		f.record("List", prefix, ft.Err)
		return ft.Err
	}
	err := f.inner.List(ctx, prefix, fn)
	f.record("List", prefix, err)
	return err
}

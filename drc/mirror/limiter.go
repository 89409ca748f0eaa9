package mirror

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
)

// Limiter caps the bytes per second that all transfers sharing it move: one per DRC,
// shared by every agency's replication to and from it. A nil Limiter does not limit.
type Limiter struct {
	rate  float64 // bytes per second
	burst time.Duration

	mu   sync.Mutex
	next time.Time // when the bytes reserved so far will have been "sent"
}

// NewLimiter returns a limiter of rate bytes per second, or nil if rate <= 0.
func NewLimiter(rate drc.Rate) *Limiter {
	if rate <= 0 {
		return nil
	}
	return &Limiter{rate: float64(rate), burst: 100 * time.Millisecond}
}

// Wait blocks until n more bytes may pass.
func (l *Limiter) Wait(ctx context.Context, n int) error {
	if l == nil || n <= 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now.Add(-l.burst)) {
		l.next = now.Add(-l.burst)
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	delay := l.next.Sub(now)
	l.mu.Unlock()
	if delay <= 0 {
		return nil
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Reader returns r slowed down to the limiter's rate.
func (l *Limiter) Reader(ctx context.Context, r io.Reader) io.Reader {
	if l == nil {
		return r
	}
	return &limitedReader{ctx: ctx, r: r, l: l}
}

type limitedReader struct {
	ctx context.Context
	r   io.Reader
	l   *Limiter
}

func (lr *limitedReader) Read(p []byte) (int, error) {
	if len(p) > 32<<10 {
		p = p[:32<<10] // small steps keep the rate smooth
	}
	n, err := lr.r.Read(p)
	if werr := lr.l.Wait(lr.ctx, n); werr != nil && err == nil {
		err = werr
	}
	return n, err
}

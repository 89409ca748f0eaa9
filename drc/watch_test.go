package drc

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"
)

// A watch fires when nothing makes progress for its timeout, and not while reads keep
// returning bytes, however long the whole takes.
func TestWatch(t *testing.T) {
	w := NewWatch(context.Background(), time.Second)
	r := w.Reader(&slowReader{r: bytes.NewReader(make([]byte, 150)), every: 10 * time.Millisecond})
	n, err := io.Copy(io.Discard, r) // 1.5 s in all, a byte every 10 ms
	if err != nil || n != 150 || w.Fired() || w.Context().Err() != nil {
		t.Fatalf("a read that keeps moving: %d bytes, %v, fired %v, context %v", n, err, w.Fired(), w.Context().Err())
	}
	select {
	case <-w.Context().Done():
	case <-time.After(time.Minute):
		t.Fatal("the watch did not fire once nothing moved")
	}
	if !w.Fired() {
		t.Error("the context ended without the watch saying it fired")
	}
	w.Stop()

	// Stopped: cancelled, not fired; a cancelled parent is not a stall either.
	w = NewWatch(context.Background(), time.Hour)
	w.Stop()
	if w.Context().Err() == nil || w.Fired() {
		t.Errorf("stopped watch: context %v, fired %v", w.Context().Err(), w.Fired())
	}
	parent, cancel := context.WithCancel(context.Background())
	w = NewWatch(parent, time.Hour)
	cancel()
	<-w.Context().Done()
	if w.Fired() {
		t.Error("a cancelled parent counted as a stall")
	}
	w.Stop()
	w = NewWatch(context.Background(), 0)
	if w.Timeout() != DefaultStallTimeout {
		t.Error("a watch without a timeout does not take the default")
	}
	w.Stop()
}

type slowReader struct {
	r     io.Reader
	every time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.every)
	return s.r.Read(p[:1])
}

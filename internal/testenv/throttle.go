package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Throttle is a TCP proxy in front of a server that limits the bytes per second sent
// to it: a slow link, so that a test can act while a transfer is under way. Cut drops
// every connection and refuses new ones until Restore, like a link going down.
type Throttle struct {
	Addr string

	target string
	rate   int // bytes per second towards target
	ln     net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]bool
	cut    bool
}

// NewThrottle starts a proxy to target sending at most rate bytes per second to it.
func NewThrottle(t testing.TB, target string, rate int) *Throttle {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Throttle{Addr: ln.Addr().String(), target: target, rate: rate, ln: ln, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.Cut() })
	return p
}

func (p *Throttle) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *Throttle) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Throttle) handle(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(c) || !p.track(up) {
		c.Close()
		if up != nil {
			up.Close()
		}
		return
	}
	go func() { _, _ = io.Copy(c, up); c.Close() }()
	buf := make([]byte, 16<<10)
	chunk := max(p.rate/20, 1)
	for {
		n, err := c.Read(buf[:min(len(buf), chunk)])
		if n > 0 {
			if _, werr := up.Write(buf[:n]); werr != nil {
				break
			}
			time.Sleep(time.Duration(n) * time.Second / time.Duration(p.rate))
		}
		if err != nil {
			break
		}
	}
	up.Close()
}

// Cut drops every connection and refuses new ones.
func (p *Throttle) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore accepts connections again after Cut.
func (p *Throttle) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

package libvirt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
)

// conn is a connection to libvirtd. go-libvirt's calls take no context: a watcher
// closes the connection when the context ends, which makes a call that hangs (a
// libvirtd that stopped answering) return.
type conn struct {
	*golibvirt.Libvirt
	uri  string // for messages, without a password
	stop func() bool
}

// dialTimeout bounds connecting to libvirtd (an ssh handshake included).
const dialTimeout = 30 * time.Second

// dial connects to the hypervisor at rawURI.
func dial(ctx context.Context, rawURI string) (*conn, error) {
	u, err := url.Parse(rawURI)
	if err != nil {
		return nil, fmt.Errorf("libvirt uri %q: %w", rawURI, err)
	}
	name := u.Redacted()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("libvirt %s: %w", name, context.Cause(ctx))
	}
	type result struct {
		l   *golibvirt.Libvirt
		err error
	}
	ch := make(chan result, 1)
	go func() {
		l, err := golibvirt.ConnectToURI(u)
		ch <- result{l, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.l != nil {
				_ = r.l.Disconnect()
			}
		}()
		return nil, fmt.Errorf("libvirt %s: %w", name, context.Cause(ctx))
	case <-time.After(dialTimeout):
		return nil, fmt.Errorf("libvirt %s: no answer within %s (is libvirtd running?)", name, dialTimeout)
	}
	if res.err != nil {
		return nil, fmt.Errorf("libvirt %s: cannot connect (is libvirtd running?): %s", name, reason(res.err))
	}
	c := &conn{Libvirt: res.l, uri: name}
	var once sync.Once
	closeConn := func() { once.Do(func() { _ = res.l.Disconnect() }) }
	c.stop = context.AfterFunc(ctx, closeConn)
	return c, nil
}

// close ends the connection.
func (c *conn) close() {
	c.stop()
	_ = c.Disconnect()
}

// reason is libvirt's own message for err, on one line.
func reason(err error) string {
	var lerr golibvirt.Error
	msg := err.Error()
	if errors.As(err, &lerr) {
		msg = lerr.Message
	}
	return oneLine(msg)
}

// isCode reports whether err is a libvirt error with the given number.
func isCode(err error, code golibvirt.ErrorNumber) bool {
	var lerr golibvirt.Error
	return errors.As(err, &lerr) && lerr.Code == uint32(code)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

package dbdump

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Endpoint is where a client reaches a server: a unix socket file, or a host and a port.
type Endpoint struct {
	Socket string // the socket file's path
	Host   string
	Port   int
}

func (e Endpoint) String() string {
	if e.Socket != "" {
		return "socket " + e.Socket
	}
	return net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}

// SameEndpoint reports whether a and b reach the same server: the same socket file, or
// the same port on an address their host names share once resolved (any address of
// this machine counts as one: a server listening on all of them answers on each). It
// says why. Names that do not resolve are compared as written.
func SameEndpoint(ctx context.Context, a, b Endpoint) (bool, string) {
	if a.Socket != "" || b.Socket != "" {
		if a.Socket == "" || b.Socket == "" {
			return false, ""
		}
		if a.Socket == b.Socket {
			return true, "the same socket " + a.Socket
		}
		sa, erra := os.Stat(a.Socket)
		sb, errb := os.Stat(b.Socket)
		if erra == nil && errb == nil && os.SameFile(sa, sb) {
			return true, fmt.Sprintf("%s and %s are the same socket", a.Socket, b.Socket)
		}
		return false, ""
	}
	if a.Port != b.Port {
		return false, ""
	}
	ips := func(host string) []net.IP {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			if ip := net.ParseIP(host); ip != nil {
				return []net.IP{ip}
			}
			return nil
		}
		out := make([]net.IP, 0, len(addrs))
		for _, a := range addrs {
			out = append(out, a.IP)
		}
		return out
	}
	if a.Host == b.Host {
		return true, fmt.Sprintf("the same host and port %s", a)
	}
	ipa, ipb := ips(a.Host), ips(b.Host)
	for _, x := range ipa {
		for _, y := range ipb {
			if x.Equal(y) {
				return true, fmt.Sprintf("%s and %s both resolve to %s, port %d", a.Host, b.Host, x, a.Port)
			}
		}
	}
	local := localAddrs()
	for _, x := range ipa {
		for _, y := range ipb {
			if local(x) && local(y) {
				return true, fmt.Sprintf("%s (%s) and %s (%s) are both this machine, port %d", a.Host, x, b.Host, y, a.Port)
			}
		}
	}
	return false, ""
}

// localAddrs returns a test for the addresses of this machine.
func localAddrs() func(net.IP) bool {
	var mine []net.IP
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				mine = append(mine, n.IP)
			}
		}
	}
	return func(ip net.IP) bool {
		if ip.IsLoopback() {
			return true
		}
		for _, m := range mine {
			if m.Equal(ip) {
				return true
			}
		}
		return false
	}
}

package dbdump

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
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
// says why (a message: a drill's report shows it). Names that do not resolve are
// compared as written.
func SameEndpoint(ctx context.Context, a, b Endpoint) (bool, msg.Message) {
	if a.Socket != "" || b.Socket != "" {
		if a.Socket == "" || b.Socket == "" {
			return false, msg.Message{}
		}
		if a.Socket == b.Socket {
			return true, msg.New("db.same.socket", "socket", a.Socket)
		}
		sa, erra := os.Stat(a.Socket)
		sb, errb := os.Stat(b.Socket)
		if erra == nil && errb == nil && os.SameFile(sa, sb) {
			return true, msg.New("db.same.socket_file", "a", a.Socket, "b", b.Socket)
		}
		return false, msg.Message{}
	}
	if a.Port != b.Port {
		return false, msg.Message{}
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
		return true, msg.New("db.same.host", "endpoint", a.String())
	}
	ipa, ipb := ips(a.Host), ips(b.Host)
	for _, x := range ipa {
		for _, y := range ipb {
			if x.Equal(y) {
				return true, msg.New("db.same.resolve", "a", a.Host, "b", b.Host, "ip", x.String(), "port", a.Port)
			}
		}
	}
	local := localAddrs()
	for _, x := range ipa {
		for _, y := range ipb {
			if local(x) && local(y) {
				return true, msg.New("db.same.local", "a", a.Host, "ipa", x.String(), "b", b.Host, "ipb", y.String(), "port", a.Port)
			}
		}
	}
	return false, msg.Message{}
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

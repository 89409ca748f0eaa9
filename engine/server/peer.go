package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/user"
	"strconv"
	"syscall"
)

// Who asked: the API listens on a unix socket, so the kernel tells the daemon the user
// of the process at the other end (SO_PEERCRED). Runs that change or remove something
// on request (`cadang unlock --all`) record it.

type peerKey struct{}

// PeerContext is the http.Server's ConnContext: it stores the peer's credentials.
func PeerContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *syscall.Ucred
	_ = raw.Control(func(fd uintptr) {
		cred, _ = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if cred == nil {
		return ctx
	}
	return context.WithValue(ctx, peerKey{}, *cred)
}

// requester names who sent r: "uid 0 (root), pid 1234", or "" when unknown.
func requester(r *http.Request) string {
	cred, ok := r.Context().Value(peerKey{}).(syscall.Ucred)
	if !ok {
		return ""
	}
	name := ""
	if u, err := user.LookupId(strconv.Itoa(int(cred.Uid))); err == nil {
		name = " (" + u.Username + ")"
	}
	return fmt.Sprintf("uid %d%s, pid %d", cred.Uid, name, cred.Pid)
}

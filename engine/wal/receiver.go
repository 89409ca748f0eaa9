package wal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The push protocol, on its own unix socket (the daemon's API socket is its owner's
// only, and PostgreSQL runs archive_command as its own user): the client sends one
// line of JSON (pushHeader), then the file's bytes; the receiver answers one line,
// "ok" once the file is fsynced in the spool, or "error: why". Nothing else is
// served on it.

type pushHeader struct {
	Target string `json:"target"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
}

// MaxFileSize bounds a pushed file (PostgreSQL's largest segment size is 1 GiB).
const MaxFileSize = 1 << 30

// Receiver takes pushed WAL files into the spools of the targets it is given.
type Receiver struct {
	// Spool returns the spool of a target in continuous mode, or an error (unknown
	// target, not in continuous mode).
	Spool func(target string) (*Spool, error)
	// Allowed reports whether a peer (by user id) may push; nil: everyone who can
	// reach the socket.
	Allowed func(uid uint32) bool
	Log     *slog.Logger
}

// PushUsers is who may push by default: root, the user of this process and the
// postgres user (PostgreSQL runs archive_command as its own user).
func PushUsers() func(uid uint32) bool {
	allowed := map[uint32]bool{0: true, uint32(os.Getuid()): true}
	if u, err := user.Lookup("postgres"); err == nil {
		if uid, err := strconv.Atoi(u.Uid); err == nil {
			allowed[uint32(uid)] = true
		}
	}
	return func(uid uint32) bool { return allowed[uid] }
}

// Listen listens on path (mode 0666: who may push is Allowed's to say, by the peer's
// user id), replacing a stale socket.
func Listen(path string) (net.Listener, error) {
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("WAL socket: %s exists and is not a socket", path)
		}
		_ = os.Remove(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, fmt.Errorf("WAL socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("WAL socket: %w", err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("WAL socket: %w", err)
	}
	return ln, nil
}

// Serve answers pushes until ln is closed.
func (r *Receiver) Serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go r.handle(c)
	}
}

func (r *Receiver) handle(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	h, err := r.receive(c)
	answer := "ok\n"
	if err != nil {
		answer = "error: " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n"
		r.Log.Warn("WAL push refused", "target", h.Target, "file", h.Name, "err", err)
	} else {
		r.Log.Debug("WAL spooled", "target", h.Target, "file", h.Name)
	}
	_, _ = io.WriteString(c, answer)
}

func (r *Receiver) receive(c net.Conn) (pushHeader, error) {
	var h pushHeader
	if uc, ok := c.(*net.UnixConn); ok && r.Allowed != nil {
		uid, err := peerUID(uc)
		if err != nil {
			return h, err
		}
		if !r.Allowed(uid) {
			return h, fmt.Errorf("user id %d may not push WAL", uid)
		}
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return h, fmt.Errorf("reading the request: %w", err)
	}
	if err := json.Unmarshal([]byte(line), &h); err != nil {
		return h, fmt.Errorf("bad request: %w", err)
	}
	if h.Size < 0 || h.Size > MaxFileSize {
		return h, fmt.Errorf("size %d out of bounds", h.Size)
	}
	s, err := r.Spool(h.Target)
	if err != nil {
		return h, err
	}
	lr := &io.LimitedReader{R: br, N: h.Size}
	if err := s.Put(h.Name, lr); err != nil {
		return h, err
	}
	if lr.N != 0 {
		return h, fmt.Errorf("%s: %d bytes short", h.Name, lr.N)
	}
	return h, nil
}

func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return cred.Uid, nil
}

// Push sends the file at path to the receiver at socket for target, and returns once
// the receiver has it on disk. Any error (no daemon, a refusal) must make the
// archive_command fail: PostgreSQL keeps the segment and tries again.
func Push(ctx context.Context, socket, target, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return fmt.Errorf("cannot reach the cadang daemon's WAL socket: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	h, _ := json.Marshal(pushHeader{Target: target, Name: filepath.Base(path), Size: st.Size()})
	_, err = c.Write(append(h, '\n'))
	if err == nil {
		_, err = io.Copy(c, f)
	}
	if err != nil {
		// The daemon refuses a user or a target before it reads the segment, answers and
		// closes: the write then breaks (a broken pipe), and the answer, already sent,
		// says why.
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if answer, _ := bufio.NewReader(c).ReadString('\n'); strings.HasPrefix(answer, "error: ") {
			return fmt.Errorf("%s: %s", target, strings.TrimSpace(strings.TrimPrefix(answer, "error: ")))
		}
		return fmt.Errorf("WAL socket: %w", err)
	}
	answer, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("WAL socket: no answer: %w", err)
	}
	if answer = strings.TrimSpace(answer); answer != "ok" {
		return fmt.Errorf("%s: %s", target, strings.TrimPrefix(answer, "error: "))
	}
	return nil
}

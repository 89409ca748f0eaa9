package dbdump

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

const pipeSize = 1 << 20 // the default maximum for unprivileged processes

// dumpPipe is the pipe a dump tool writes to: blocking (the copy runs in a goroutine of
// its own), and large, so that the tool, cadang and restic wake each other less often.
func dumpPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("pipe: %w", err)
	}
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, uintptr(p[1]), syscall.F_SETPIPE_SZ, pipeSize)
	return os.NewFile(uintptr(p[0]), "dump|r"), os.NewFile(uintptr(p[1]), "dump|w"), nil
}

// splice moves everything from in (a pipe) to out with splice(2). It reports
// handled=false, having moved nothing, when out is something splice cannot write to.
func (r *Running) splice(out, in *os.File) (handled bool, err error) {
	inConn, err := in.SyscallConn()
	if err != nil {
		return false, nil
	}
	outConn, err := out.SyscallConn()
	if err != nil {
		return false, nil
	}
	if out == os.Stdout || out == os.Stderr {
		_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, out.Fd(), syscall.F_SETPIPE_SZ, pipeSize)
	}
	first := true
	for {
		var n int64
		var serr error
		cerr := inConn.Control(func(rfd uintptr) {
			// Write waits (through Go's poller) while a non-blocking out is full.
			werr := outConn.Write(func(wfd uintptr) bool {
				n, serr = syscall.Splice(int(rfd), nil, int(wfd), nil, pipeSize, spliceMove|spliceMore)
				return serr != syscall.EAGAIN
			})
			if serr == nil || serr == syscall.EAGAIN {
				serr = werr
			}
		})
		if serr == nil {
			serr = cerr
		}
		switch {
		case serr == syscall.EINTR:
			continue
		case serr == syscall.EINVAL && first:
			return false, nil // not a pipe or file: copy instead
		case serr != nil:
			return true, fmt.Errorf("writing the dump: %w", serr)
		case n == 0:
			return true, nil // the tool closed its end
		}
		first = false
		r.bytes.Add(n)
		if n < pipeSize/4 {
			// Tools write a few KiB at a time: let the pipe fill a little rather than wake
			// up for each write (the pipe holds 1 MiB: the tool rarely has to wait).
			time.Sleep(time.Millisecond)
		}
	}
}

const (
	spliceMove = 0x1
	spliceMore = 0x4
)

package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sdNotify sends its state to the datagram socket systemd names in NOTIFY_SOCKET.
func TestSdNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	sdNotify(slog.New(slog.DiscardHandler), "READY=1\nSTATUS=serving")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1\nSTATUS=serving" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	// Without NOTIFY_SOCKET it does nothing (and logs nothing).
	t.Setenv("NOTIFY_SOCKET", "")
	var log bytes.Buffer
	sdNotify(slog.New(slog.NewTextHandler(&log, nil)), "READY=1")
	if log.Len() != 0 {
		t.Fatalf("logged %q", log.String())
	}
}

// Under the journal (JOURNAL_STREAM names standard error's device and inode) the
// daemon's lines carry no time of their own.
func TestJournalLogs(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	if !toJournal(f) {
		t.Fatal("toJournal = false for the stream JOURNAL_STREAM names")
	}
	if toJournal(&bytes.Buffer{}) || toJournal(os.Stdin) {
		t.Fatal("toJournal = true for another stream")
	}
	var out bytes.Buffer
	slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: dropTime})).Info("cadang daemon started", "pid", 1)
	if got := strings.TrimSpace(out.String()); got != `level=INFO msg="cadang daemon started" pid=1` {
		t.Fatalf("got %q", got)
	}
}

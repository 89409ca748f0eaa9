package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
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
	var buf, out bytes.Buffer
	h := &journalHandler{Handler: slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: dropTime, Level: slog.LevelDebug}),
		mu: &sync.Mutex{}, buf: &buf, w: &out}
	log := slog.New(h)
	log.Info("cadang daemon started", "pid", 1)
	log.With("target", "portal").Warn("slow")
	log.WithGroup("g").Error("failed", "err", "boom")
	log.Debug("detail")
	want := `<6>level=INFO msg="cadang daemon started" pid=1
<4>level=WARN msg=slow target=portal
<3>level=ERROR msg=failed g.err=boom
<7>level=DEBUG msg=detail
`
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

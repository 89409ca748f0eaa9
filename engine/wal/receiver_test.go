package wal

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestPushReachesTheSpoolOnlyWhenTheReceiverRuns(t *testing.T) {
	dir := t.TempDir()
	socket := filepath.Join(dir, "wal", "push.sock")
	seg := filepath.Join(dir, "000000010000000000000007")
	if err := os.WriteFile(seg, []byte(strings.Repeat("w", 1<<16)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := Push(ctx, socket, "db", seg); err == nil {
		t.Fatal("push without a receiver succeeded")
	}
	spool, err := Open(filepath.Join(dir, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := &Receiver{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Spool: func(target string) (*Spool, error) {
		if target != "db" {
			return nil, errors.New(`target "` + target + `" is not in continuous mode`)
		}
		return spool, nil
	}}
	var refuse atomic.Bool
	r.Allowed = func(uid uint32) bool { return uid == uint32(os.Getuid()) && !refuse.Load() }
	go func() { _ = r.Serve(ln) }()
	if err := Push(ctx, socket, "db", seg); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(spool.Dir, filepath.Base(seg))); err != nil || len(b) != 1<<16 {
		t.Fatalf("spooled %d bytes, %v", len(b), err)
	}
	if err := Push(ctx, socket, "files", seg); err == nil || !strings.Contains(err.Error(), "not in continuous mode") {
		t.Fatalf("push for another target: %v", err)
	}
	refuse.Store(true)
	if err := Push(ctx, socket, "db", seg); err == nil || !strings.Contains(err.Error(), "may not push") {
		t.Fatalf("push by a user not allowed: %v", err)
	}
}

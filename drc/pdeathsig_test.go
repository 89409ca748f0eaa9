package drc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A restic the daemon started dies with the daemon (kill -9 included): a restic that
// went on alone could write a snapshot that no run records. The daemon is played by
// this test binary run again (TestMain-free: a helper test), restic by a script that
// sleeps without writing (so no broken pipe ends it).
func TestResticDiesWithTheDaemon(t *testing.T) {
	if dir := os.Getenv("CADANG_TEST_PDEATHSIG_DIR"); dir != "" {
		r := &Restic{Binary: filepath.Join(dir, "restic"), Logger: slog.New(slog.DiscardHandler)}
		_ = r.run(context.Background(), call{op: "backup", drc: "test", env: []string{"PIDFILE=" + filepath.Join(dir, "pid")}})
		return
	}
	dir := t.TempDir()
	script := "#!/bin/sh\necho $$ > \"$PIDFILE.tmp\" && mv \"$PIDFILE.tmp\" \"$PIDFILE\"\nexec sleep 300\n"
	if err := os.WriteFile(filepath.Join(dir, "restic"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(os.Args[0], "-test.run=^TestResticDiesWithTheDaemon$")
	daemon.Env = append(os.Environ(), "CADANG_TEST_PDEATHSIG_DIR="+dir)
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	deadline := time.Now().Add(time.Minute)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "pid"))
		if err == nil {
			pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			_ = daemon.Process.Kill()
			t.Fatal("the fake restic did not start within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if err := daemon.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = daemon.Wait()
	deadline = time.Now().Add(time.Minute)
	for running(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("restic (pid %d) still runs a minute after the daemon was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running reports whether process pid exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

package drc

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseBackendLine(t *testing.T) {
	cases := []struct {
		line string
		want backendLine
		ok   bool
	}{
		// As restic 0.18 prints them (restore and check --read-data of a pack MinIO
		// fails on its bitrot checksum).
		{"Load(<data/f5fa2760c1>, 9000550, 0) returned error, retrying after 1.186961362s: unexpected EOF",
			backendLine{"Load", "<data/f5fa2760c1>", "retry", "unexpected EOF"}, true},
		{"Load(<data/f5fa2760c1>, 9000914, 0) returned error, retrying after 13.619940566s: readFull: unexpected EOF",
			backendLine{"Load", "<data/f5fa2760c1>", "retry", "readFull: unexpected EOF"}, true},
		{"\x1b[2KSave(<data/956b9ced99>) returned error, retrying after 357.131936ms: connection refused",
			backendLine{"Save", "<data/956b9ced99>", "retry", "connection refused"}, true},
		{"Save(<data/956b9ced99>) operation successful after 1 retries",
			backendLine{"Save", "<data/956b9ced99>", "ok", ""}, true},
		{"Load(<index/0a1b2c3d4e>, 0, 0) failed: circuit breaker open",
			backendLine{"Load", "<index/0a1b2c3d4e>", "failed", "circuit breaker open"}, true},
		{"List(data) returned error, retrying after 552ms: Get \"http://x/\": dial tcp: connection refused",
			backendLine{"List", "data", "retry", `Get "http://x/": dial tcp: connection refused`}, true},
		{"Stat(<config/>) returned error, retrying after 1s: timeout",
			backendLine{"Stat", "<config/>", "retry", "timeout"}, true},
		{`{"message_type":"exit_error","code":130,"message":"context canceled"}`, backendLine{}, false},
		{"signal terminated received, cleaning up", backendLine{}, false},
		{"unable to load data: returned error, retrying after", backendLine{}, false},
	}
	for _, tc := range cases {
		got, ok := parseBackendLine(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseBackendLine(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestHandleObject(t *testing.T) {
	full := strings.Repeat("ab", 32)
	cases := []struct {
		handle, name string
		full         bool
	}{
		{"<data/f5fa2760c1>", "data/f5/f5fa2760c1", false},
		{"<data/" + full + ">", "data/ab/" + full, true},
		{"<index/0a1b2c3d4e>", "index/0a1b2c3d4e", false},
		{"<snapshot/0a1b2c3d4e>", "snapshots/0a1b2c3d4e", false},
		{"<key/0a1b2c3d4e>", "keys/0a1b2c3d4e", false},
		{"<lock/0a1b2c3d4e>", "locks/0a1b2c3d4e", false},
		{"<config/>", "config", true},
		{"<data/f>", "", false},
		{"<data/../x>", "", false},
		{"<blob/0a1b2c3d4e>", "", false},
		{"data", "", false},
	}
	for _, tc := range cases {
		name, isFull := handleObject(tc.handle)
		if name != tc.name || isFull != tc.full {
			t.Errorf("handleObject(%q) = %q, %v; want %q, %v", tc.handle, name, isFull, tc.name, tc.full)
		}
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func retryLine(h string, after string) string {
	return "Load(" + h + ", 0, 0) returned error, retrying after " + after + ": unexpected EOF"
}

func TestWatchdogStallsWithoutProgress(t *testing.T) {
	clk := newFakeClock()
	w := newWatchdog(2*time.Minute, clk.now)
	status := `{"message_type":"status","percent_done":0.5,"total_files":3,"bytes_restored":100}`

	// Status lines and time alone: nothing is retried, no stall however long.
	w.stdoutLine([]byte(status))
	clk.add(10 * time.Minute)
	if se := w.check(); se != nil {
		t.Fatalf("stall without any retry: %v", se)
	}

	// The first retry arms it.
	if _, started := w.stderrLine(retryLine("<data/f5fa2760c1>", "552ms")); !started {
		t.Fatal("first retry line did not start the watch")
	}
	// restic goes on printing the same status (its seconds change) and retrying the
	// same object: no progress.
	for i := 0; i < 11; i++ {
		clk.add(10 * time.Second)
		w.stdoutLine([]byte(strings.Replace(status, "{", `{"seconds_elapsed":`+strings.Repeat("1", i+1)+",", 1)))
		if _, started := w.stderrLine(retryLine("<data/f5fa2760c1>", "8s")); started {
			t.Fatal("a repeated retry started the watch again")
		}
		if se := w.check(); se != nil {
			t.Fatalf("stalled after %d s, before the timeout: %v", (i+1)*10, se)
		}
	}
	clk.add(10 * time.Second) // 2m since the first retry
	se := w.check()
	if se == nil {
		t.Fatal("no stall after 2m of retries without progress")
	}
	if se.Handle != "<data/f5fa2760c1>" || se.Action != "Load" || se.Reason != "unexpected EOF" || se.After != 2*time.Minute ||
		se.prefix != "data/f5/f5fa2760c1" || se.full {
		t.Fatalf("stall = %+v", se)
	}
	if again := w.check(); again != se {
		t.Fatal("a fired watchdog must keep its error")
	}
}

func TestWatchdogProgressPostpones(t *testing.T) {
	clk := newFakeClock()
	w := newWatchdog(time.Minute, clk.now)
	w.stderrLine(retryLine("<data/aaaaaaaaaa>", "1s"))
	clk.add(50 * time.Second)
	w.stdoutLine([]byte(`{"message_type":"status","bytes_restored":100}`)) // new: progress
	clk.add(50 * time.Second)
	if se := w.check(); se != nil {
		t.Fatalf("stalled 50s after progress: %v", se)
	}
	w.stdoutLine([]byte(`{"message_type":"status","bytes_restored":100}`)) // the same: none
	clk.add(10 * time.Second)
	if se := w.check(); se == nil || se.After != time.Minute {
		t.Fatalf("want a stall 1m after the last progress, got %+v", se)
	}

	// Bytes of a dump are progress too.
	clk = newFakeClock()
	w = newWatchdog(time.Minute, clk.now)
	w.stderrLine(retryLine("<data/aaaaaaaaaa>", "1s"))
	clk.add(55 * time.Second)
	w.progressed()
	clk.add(55 * time.Second)
	if se := w.check(); se != nil {
		t.Fatalf("stalled 55s after a write: %v", se)
	}
}

func TestWatchdogRetriesThatEnd(t *testing.T) {
	clk := newFakeClock()
	w := newWatchdog(time.Minute, clk.now)
	// A retry that succeeds disarms it (and is progress).
	w.stderrLine(retryLine("<data/aaaaaaaaaa>", "1s"))
	clk.add(5 * time.Second)
	w.stderrLine("Load(<data/aaaaaaaaaa>, 0, 0) operation successful after 1 retries")
	clk.add(5 * time.Minute)
	if se := w.check(); se != nil {
		t.Fatalf("stall after the retry succeeded: %v", se)
	}
	// One restic gave up on is not waited for either.
	w.stderrLine(retryLine("<data/bbbbbbbbbb>", "1s"))
	w.stderrLine("Load(<data/bbbbbbbbbb>, 0, 0) failed: unexpected EOF")
	clk.add(5 * time.Minute)
	if se := w.check(); se != nil {
		t.Fatalf("stall after restic gave up: %v", se)
	}

	// Of two objects, the one retried longest is named, whichever was last.
	w.stderrLine(retryLine("<data/cccccccccc>", "1s"))
	clk.add(20 * time.Second)
	w.stderrLine(retryLine("<index/dddddddddd>", "1s"))
	w.stderrLine(retryLine("<data/cccccccccc>", "1s"))
	clk.add(40 * time.Second)
	w.stderrLine(retryLine("<index/dddddddddd>", "1s"))
	se := w.check()
	if se == nil || se.Handle != "<data/cccccccccc>" || se.After != time.Minute {
		t.Fatalf("stall = %+v, want <data/cccccccccc> after 1m", se)
	}
}

func TestStallErrorMessage(t *testing.T) {
	id := "ab12" + strings.Repeat("0", 60)
	se := &StallError{Op: "restore", DRC: "offsite", Agency: "x", Object: "data/ab/" + id, After: 2 * time.Minute,
		Handle: "<data/ab12000000>", Action: "Load", Reason: "unexpected EOF"}
	want := `restore at drc "offsite" (agency "x"): no progress for 2m0s while reading data/ab/` + id + `: object unreadable (unexpected EOF), cancelled`
	if se.Error() != want {
		t.Errorf("got  %s\nwant %s", se.Error(), want)
	}
	se = &StallError{Op: "check", DRC: "local", After: time.Minute, Handle: "data", Action: "List", Reason: "connection refused\nmore"}
	want = `check at drc "local": no progress for 1m0s while listing data/: listing fails (connection refused; more), cancelled`
	if se.Error() != want {
		t.Errorf("got  %s\nwant %s", se.Error(), want)
	}
	if !errors.Is(se, ErrStalled) || errors.Is(se, ErrInterrupted) {
		t.Error("a StallError is ErrStalled, not ErrInterrupted")
	}
}

func TestLineWriter(t *testing.T) {
	var got []string
	lw := &lineWriter{max: 8, fn: func(s string) { got = append(got, s) }}
	for _, p := range []string{"ab", "c\nde", "f\n\n", "0123456789", "x\n"} {
		if _, err := lw.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"abc", "def", "", "01234567", "89x"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

// Restic.run with a script that plays a restic stuck on one object: it prints a retry
// line and status lines that do not change, and only a SIGINT ends it. The call ends
// after StallTimeout with a *StallError; the script saw the SIGINT (restic's clean stop).
func TestRunCancelsAStalledRestic(t *testing.T) {
	dir := t.TempDir()
	script := `#!/bin/sh
trap 'echo interrupted > "$DIR/sigint"; echo "{\"message_type\":\"exit_error\",\"code\":130,\"message\":\"context canceled\"}" >&2; exit 130' INT
echo 'Load(<data/f5fa2760c1>, 9000550, 0) returned error, retrying after 552ms: unexpected EOF' >&2
while :; do
	echo '{"message_type":"status","percent_done":0,"total_files":3,"total_bytes":9000000}'
	sleep 0.1
done
`
	bin := filepath.Join(dir, "restic")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &Restic{Binary: bin, Logger: slog.New(slog.DiscardHandler), StallTimeout: time.Second, StopGrace: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lines := 0
	err := r.run(ctx, call{op: "restore", drc: "offsite", env: []string{"DIR=" + dir, "PATH=" + os.Getenv("PATH")},
		onLine: func([]byte) { lines++ }})
	var se *StallError
	if !errors.As(err, &se) {
		t.Fatalf("want a *StallError, got %T %v", err, err)
	}
	if se.Op != "restore" || se.DRC != "offsite" || se.Handle != "<data/f5fa2760c1>" || se.prefix != "data/f5/f5fa2760c1" {
		t.Errorf("stall = %+v", se)
	}
	if ctx.Err() != nil {
		t.Error("the watchdog did not end the call before the test's own deadline")
	}
	if _, err := os.Stat(filepath.Join(dir, "sigint")); err != nil {
		t.Error("restic was not sent SIGINT")
	}
	if lines == 0 {
		t.Error("stdout lines must still reach the caller")
	}

	// The same script whose status moves on is left alone until it ends.
	script2 := `#!/bin/sh
echo 'Load(<data/f5fa2760c1>, 9000550, 0) returned error, retrying after 552ms: unexpected EOF' >&2
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	echo "{\"message_type\":\"status\",\"bytes_restored\":$i}"
	sleep 0.1
done
`
	if err := os.WriteFile(bin, []byte(script2), 0o755); err != nil {
		t.Fatal(err)
	}
	r.StallTimeout = 500 * time.Millisecond
	if err := r.run(ctx, call{op: "restore", drc: "offsite", env: []string{"PATH=" + os.Getenv("PATH")}, onLine: func([]byte) {}}); err != nil {
		t.Fatalf("a restic making progress was stopped: %v", err)
	}
}

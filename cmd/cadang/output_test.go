package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

func running(pr api.Progress) *api.RunInfo {
	ri := &api.RunInfo{Progress: &pr}
	ri.ID, ri.Status = 1, api.Running
	return ri
}

func TestProgressPlainLines(t *testing.T) {
	var buf testenv.Buffer
	p := newProgressPrinter(&buf, false)
	if p.tty {
		t.Fatal("a buffer is a terminal")
	}
	queued := &api.RunInfo{Waiting: "waits for run 7 (same repository)"}
	queued.ID, queued.Status = 1, api.Queued
	p.update(queued)
	p.update(queued)
	p.update(running(api.Progress{Phase: "checking drc"}))
	p.update(running(api.Progress{Phase: "checking drc"}))
	p.update(running(api.Progress{Phase: "backup", PercentDone: 0.5, BytesDone: 1024, TotalBytes: 2048, FilesDone: 3}))
	p.done()
	want := "run 1 waits for run 7 (same repository)\nrun 1: checking drc\nrun 1: backup\n"
	if got := buf.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestProgressQuietWithJSON(t *testing.T) {
	var buf testenv.Buffer
	p := newProgressPrinter(&buf, true)
	p.update(running(api.Progress{Phase: "backup"}))
	p.done()
	if buf.String() != "" {
		t.Errorf("printed %q", buf.String())
	}
}

func TestProgressBarOnATerminal(t *testing.T) {
	var buf testenv.Buffer
	p := newProgressPrinter(&buf, false)
	p.tty = true // as on a terminal; the bar library draws into any writer
	p.update(running(api.Progress{Phase: "backup", PercentDone: 0.42, BytesDone: 1024, TotalBytes: 2048, FilesDone: 3, SecondsRemaining: 90}))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "1.0 KiB / 2.0 KiB  3 files  ETA 1m30s  backup") {
		if time.Now().After(deadline) {
			t.Fatalf("no bar drawn within 5s: %q", buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(buf.String(), "42 %") {
		t.Errorf("no percentage: %q", buf.String())
	}
	// A line (the run waits) ends the bar first; done after done is harmless.
	queued := &api.RunInfo{Waiting: "waits for a slot"}
	queued.ID, queued.Status = 1, api.Queued
	p.update(queued)
	p.done()
	p.done()
	if !strings.HasSuffix(buf.String(), "run 1 waits for a slot\n") {
		t.Errorf("the line is not after the bar: %q", buf.String())
	}
}

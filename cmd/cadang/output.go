package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/iec"
	"github.com/cadang/cadang/runbooks"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows under a header, aligned.
func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// displayZone is the daemon's time zone (scheduler.timezone, told with every answer of
// its API): human output shows times there, labelled (WIB, WITA, WIT, or the offset),
// whatever the zone of the machine the CLI runs on. JSON keeps RFC 3339 with offset.
var displayZone = time.Local

func setDisplayZone(name string) {
	if loc, err := time.LoadLocation(name); err == nil {
		displayZone = loc
	}
}

func shortTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	t = t.In(displayZone)
	return t.Format("2006-01-02 15:04:05") + " " + runbooks.ZoneLabel(displayZone, t)
}

func took(r api.Run) string {
	switch {
	case r.Started.IsZero():
		return "-"
	case r.Ended.IsZero():
		return time.Since(r.Started).Round(time.Second).String() + "…"
	}
	return r.Ended.Sub(r.Started).Round(100 * time.Millisecond).String()
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// isTerminal reports whether w is a terminal. A character device is not enough:
// /dev/null is one too, and a command run from cron with it as stdin must not wait for
// a confirmation nobody can type.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressPrinter shows a run's progress: a bar on a terminal (github.com/vbauerster/mpb),
// plain lines otherwise (at each phase change and every 10 seconds), nothing with --json.
type progressPrinter struct {
	w        io.Writer
	tty      bool
	quiet    bool
	phase    string
	lastLine time.Time

	// On a terminal: the bar, made at the first progress and dropped by done. Its
	// decorators read last, the latest progress.
	bars *mpb.Progress
	bar  *mpb.Bar
	mu   sync.Mutex
	last api.Progress
}

// barScale is the bar's total: restic reports a fraction done, not a count that would
// stay the same all along (the total bytes grow while it scans).
const barScale = 1000

func newProgressPrinter(w io.Writer, quiet bool) *progressPrinter {
	return &progressPrinter{w: w, tty: isTerminal(w), quiet: quiet}
}

func (p *progressPrinter) update(ri *api.RunInfo) {
	if p.quiet {
		return
	}
	if ri.Waiting != "" && ri.Status == api.Queued && p.phase != ri.Waiting {
		p.phase = ri.Waiting
		p.line(fmt.Sprintf("run %d %s", ri.ID, ri.Waiting))
		return
	}
	pr := ri.Progress
	if pr == nil {
		return
	}
	if p.tty {
		p.draw(pr)
		return
	}
	switch {
	case pr.Phase == "":
	case pr.Phase != p.phase:
		p.phase = pr.Phase
		p.line(fmt.Sprintf("run %d: %s", ri.ID, pr.Phase))
	case pr.TotalBytes > 0 && time.Since(p.lastLine) >= 10*time.Second:
		p.line(fmt.Sprintf("run %d: %s %.1f%%, %s of %s, %d files", ri.ID, pr.Phase, pr.PercentDone*100,
			iec.UBytes(pr.BytesDone), iec.UBytes(pr.TotalBytes), pr.FilesDone))
	}
}

// draw moves the bar to pr: " 42 % [=====>-----] 1.2 GiB / 3.0 GiB  1234 files  ETA 2m0s  backup".
func (p *progressPrinter) draw(pr *api.Progress) {
	p.mu.Lock()
	p.last = *pr
	p.mu.Unlock()
	if p.bar == nil {
		p.bars = mpb.New(mpb.WithOutput(p.w), mpb.WithAutoRefresh(), mpb.WithRefreshRate(150*time.Millisecond))
		// A total of 0 at first, then barScale: the bar never completes by itself (at
		// 100% restic may still be saving), done drops it.
		p.bar = p.bars.AddBar(0, mpb.BarWidth(30),
			mpb.PrependDecorators(decor.Percentage(decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return p.detail() })))
		p.bar.SetTotal(barScale, false)
	}
	p.bar.SetCurrent(int64(max(0, min(pr.PercentDone, 1)) * barScale))
}

// detail is the text after the bar, from the latest progress.
func (p *progressPrinter) detail() string {
	p.mu.Lock()
	pr := p.last
	p.mu.Unlock()
	eta := ""
	if pr.SecondsRemaining > 0 {
		eta = "  ETA " + (time.Duration(pr.SecondsRemaining) * time.Second).String()
	}
	return fmt.Sprintf(" %s / %s  %d files%s  %s", iec.UBytes(pr.BytesDone), iec.UBytes(pr.TotalBytes), pr.FilesDone, eta, pr.Phase)
}

func (p *progressPrinter) line(s string) {
	p.done()
	fmt.Fprintln(p.w, s)
	p.lastLine = time.Now()
}

// done removes the bar, if any; the next progress draws a new one.
func (p *progressPrinter) done() {
	if p.bar == nil {
		return
	}
	p.bar.Abort(true)
	p.bars.Wait()
	p.bar, p.bars = nil, nil
}

// exitFor maps a finished run to the exit status and the error to print.
func exitFor(ri *api.RunInfo) error {
	switch ri.Status {
	case api.Succeeded:
		return nil
	case api.Partial:
		return &exitError{exitPartial, fmt.Errorf("run %d partial: %s", ri.ID, ri.Error)}
	}
	return &exitError{exitFailed, fmt.Errorf("run %d %s: %s", ri.ID, ri.Status, ri.Error)}
}

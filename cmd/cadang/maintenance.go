package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cadang/cadang/engine/api"
)

// describeRun names what a run does, for one line of output.
func describeRun(r *api.RunInfo) string {
	switch {
	case r.Target != "":
		return fmt.Sprintf("%s of %s at drc %s", r.Op, r.Target, orDash(r.DRC))
	case r.Agency != "":
		return fmt.Sprintf("%s of agency %s at drc %s", r.Op, r.Agency, orDash(r.DRC))
	}
	return r.Op
}

// finishRuns prints queued runs, or with wait waits for all of them and prints how
// each ended; the exit status is the worst of theirs.
func finishRuns(ctx context.Context, g *globals, c *api.Client, runs []api.RunInfo, wait bool) error {
	if !wait {
		if g.json {
			return printJSON(g.stdout, runs)
		}
		for i := range runs {
			fmt.Fprintf(g.stdout, "run %d queued: %s\n", runs[i].ID, describeRun(&runs[i]))
		}
		return nil
	}
	ids := make([]uint64, len(runs))
	for i := range runs {
		ids[i] = runs[i].ID
	}
	ended, err := waitRuns(ctx, c, ids, nil)
	if err != nil {
		return err
	}
	final := make([]api.RunInfo, 0, len(runs))
	code := exitOK
	for _, ri := range ended {
		final = append(final, *ri)
		if !g.json {
			line := fmt.Sprintf("run %d %s: %s in %s", ri.ID, ri.Status, describeRun(ri), took(ri.Run))
			if ri.Error != "" {
				line += ": " + ri.Error
			}
			fmt.Fprintln(g.stdout, line)
			for _, n := range ri.Notes {
				fmt.Fprintf(g.stdout, "  note: %s\n", n)
			}
		}
		switch ri.Status {
		case api.Succeeded:
		case api.Partial:
			if code == exitOK {
				code = exitPartial
			}
		default:
			code = exitFailed
		}
	}
	if g.json {
		if err := printJSON(g.stdout, final); err != nil {
			return err
		}
	}
	if code == exitOK {
		return nil
	}
	return &exitError{code, fmt.Errorf("%d of %d runs did not succeed", countNotOK(final), len(final))}
}

func countNotOK(runs []api.RunInfo) int {
	n := 0
	for _, r := range runs {
		if r.Status != api.Succeeded {
			n++
		}
	}
	return n
}

// age prints how long ago t was, relative to now: 3h12m, 4d2h.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		s = fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
	}
	if neg {
		return "in " + s
	}
	return s + " ago"
}

// zoneTime prints t in the daemon's time zone.
func zoneTime(t time.Time, zone string) string {
	if t.IsZero() {
		return "-"
	}
	if loc, err := time.LoadLocation(zone); err == nil {
		t = t.In(loc)
	}
	return t.Format("2006-01-02 15:04 MST")
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

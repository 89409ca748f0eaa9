package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/cadang/cadang/engine/api"
)

func init() {
	register(&command{name: "drc status", args: "[--check]", short: "each DRC's health, replication lag, pending work and alarms", run: runDRCStatus})
	register(&command{name: "drc sync", args: "[--drc NAME] [--agency ID] [--wait]", short: "replicate to the secondaries now", run: runDRCSync})
}

func runDRCStatus(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("drc status", flag.ContinueOnError)
	check := fs.Bool("check", false, "for monitoring: print each problem on a line, exit 1 if there is any")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("usage: cadang drc status [--json | --check]")
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	drcs, err := c.DRCs(ctx)
	if err != nil {
		return err
	}
	if *check {
		var problems []string
		for _, d := range drcs {
			problems = append(problems, d.Problems...)
		}
		return reportCheck(g, problems, fmt.Sprintf("%d DRCs", len(drcs)))
	}
	if g.json {
		return printJSON(g.stdout, drcs)
	}
	rows := make([][]string, 0, len(drcs))
	var notes []string
	var alarms []api.Alarm
	for _, d := range drcs {
		h := d.Health
		reach := "yes"
		if !h.Reachable {
			reach = "NO"
			notes = append(notes, h.Error)
		}
		free := "-"
		switch {
		case h.FreeBytes != nil && h.TotalBytes != nil:
			free = fmt.Sprintf("%s of %s", humanBytes(*h.FreeBytes), humanBytes(*h.TotalBytes))
		case h.Capacity != "":
			free = "not reported"
		}
		lag, pending, dels := "-", "-", "-"
		if r := d.Replication; r != nil {
			lag = r.Lag
			if r.MaxLag != "" {
				lag += " (max " + r.MaxLag + ")"
				if r.LagExceeded {
					lag += " EXCEEDED"
				}
			}
			pending = fmt.Sprintf("%d snapshots, %s", r.SnapshotsPending, humanBytes(uint64(max(r.BytesPending, 0))))
			if r.ToPrimary > 0 {
				pending += fmt.Sprintf("; %d to bring back", r.ToPrimary)
			}
			dels = fmt.Sprint(r.PendingDeletions)
			if !r.NextDeletion.IsZero() {
				dels += " (next " + shortTime(r.NextDeletion) + ")"
			}
			if r.LastError != "" {
				notes = append(notes, fmt.Sprintf("%s: last pass %s: %s", d.DRC, shortTime(r.LastPass), r.LastError))
			}
		}
		rows = append(rows, []string{d.DRC, d.Role, d.Kind, strings.ToUpper(d.Status), reach, free, orDash(h.Versioning),
			orDash(h.ObjectLock), lag, pending, dels})
		alarms = append(alarms, d.Alarms...)
	}
	table(g.stdout, []string{"DRC", "ROLE", "KIND", "STATUS", "REACHABLE", "FREE", "VERSIONING", "OBJECT LOCK", "LAG", "NOT YET THERE", "PENDING DELETIONS"}, rows)
	for _, n := range notes {
		fmt.Fprintln(g.stdout, "  "+n)
	}
	if len(alarms) > 0 {
		fmt.Fprintf(g.stdout, "\n%d ALARM(S):\n", len(alarms))
		for _, a := range alarms {
			fmt.Fprintf(g.stdout, "  #%d %s at drc %s, agency %s, seen %d time(s), last %s: %s\n", a.ID, a.Kind, a.DRC, a.Agency, a.Count,
				shortTime(a.Last), a.Message)
		}
	}
	return nil
}

func runDRCSync(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("drc sync", flag.ContinueOnError)
	drcName := fs.String("drc", "", "the secondary `DRC` (default: every secondary)")
	agency := fs.String("agency", "", "the `agency` (default: every agency)")
	wait := fs.Bool("wait", false, "wait for the passes to end")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("usage: cadang drc sync [--drc NAME] [--agency ID] [--wait]")
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	runs, err := c.Replicate(ctx, api.ReplicateRequest{DRC: *drcName, Agency: *agency})
	if err != nil {
		return err
	}
	if !*wait {
		if g.json {
			return printJSON(g.stdout, runs)
		}
		for _, r := range runs {
			fmt.Fprintf(g.stdout, "run %d queued: replicate agency %s to drc %s\n", r.ID, r.Agency, r.DRC)
		}
		return nil
	}
	ids := make([]uint64, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	ended, err := waitRuns(ctx, c, ids, nil)
	if err != nil {
		return err
	}
	final := make([]api.RunInfo, 0, len(runs))
	failed := 0
	for _, ri := range ended {
		if ri.Status != api.Succeeded {
			failed++
		}
		final = append(final, *ri)
	}
	if g.json {
		if err := printJSON(g.stdout, final); err != nil {
			return err
		}
	} else {
		for _, r := range final {
			fmt.Fprintf(g.stdout, "run %d %s: agency %s to drc %s in %s\n", r.ID, r.Status, r.Agency, r.DRC, took(r.Run))
			for _, n := range r.Notes {
				fmt.Fprintf(g.stdout, "  %s\n", n)
			}
			if r.Error != "" {
				fmt.Fprintf(g.stdout, "  error: %s\n", r.Error)
			}
		}
	}
	if failed > 0 {
		return &exitError{exitFailed, fmt.Errorf("%d of %d replication passes did not succeed", failed, len(final))}
	}
	return nil
}

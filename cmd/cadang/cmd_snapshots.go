package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/cadang/cadang/drc"
)

func init() {
	register(&command{name: "snapshots", args: "TARGET [--drc NAME]", short: "list a target's snapshots at every DRC (or at one)", run: runSnapshots})
}

func runSnapshots(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("snapshots", flag.ContinueOnError)
	drcName := fs.String("drc", "", "list the repository at this `DRC` (default: every DRC, from the ledger)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("usage: cadang snapshots TARGET [--drc NAME]")
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	snaps, err := c.Snapshots(ctx, pos[0], *drcName)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, snaps)
	}
	// Without --drc: one column per DRC, saying since when the snapshot is restorable
	// there (from the ledger), "-" where it is not (yet), and when it goes from a
	// secondary after a deletion at the primary.
	// The DRCs are the daemon's (the configuration it runs), the primary first.
	var drcs []string
	if *drcName == "" {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		for _, d := range st.DRCs {
			if d.Role == drc.RolePrimary {
				drcs = append([]string{d.Name}, drcs...)
			} else {
				drcs = append(drcs, d.Name)
			}
		}
	}
	rows := make([][]string, 0, len(snaps))
	for _, s := range snaps {
		run := "-"
		if s.Run != 0 {
			run = fmt.Sprint(s.Run)
		}
		row := []string{s.ShortID, shortTime(s.Time), s.Status, humanBytes(s.Bytes), run}
		if *drcName != "" {
			var sites []string
			for name := range s.Sites {
				sites = append(sites, name)
			}
			sort.Strings(sites)
			row = append(row, orDash(strings.Join(sites, ",")))
		}
		for _, d := range drcs {
			cell := "-"
			if at, ok := s.Sites[d]; ok {
				cell = shortTime(at)
			}
			if until, ok := s.DeleteAt[d]; ok {
				cell += " (deleted " + shortTime(until) + ")"
			}
			row = append(row, cell)
		}
		rows = append(rows, row)
	}
	header := []string{"ID", "TIME", "STATUS", "SIZE", "RUN"}
	if *drcName != "" {
		header = append(header, "RECORDED AT")
	}
	for _, d := range drcs {
		header = append(header, "AT "+strings.ToUpper(d))
	}
	table(g.stdout, header, rows)
	return nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
)

func init() {
	register(&command{name: "snapshots", args: "TARGET [--drc NAME]", short: "list a target's snapshots at a DRC", run: runSnapshots})
}

func runSnapshots(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("snapshots", flag.ContinueOnError)
	drcName := fs.String("drc", "", "the DRC to list (default: the primary)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("usage: cadang snapshots TARGET [--drc NAME]")
	}
	c, _, err := g.client()
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
	rows := make([][]string, 0, len(snaps))
	for _, s := range snaps {
		var sites []string
		for name := range s.Sites {
			sites = append(sites, name)
		}
		sort.Strings(sites)
		run := "-"
		if s.Run != 0 {
			run = fmt.Sprint(s.Run)
		}
		rows = append(rows, []string{s.ShortID, shortTime(s.Time), s.Status, humanBytes(s.Bytes), run, orDash(strings.Join(sites, ","))})
	}
	table(g.stdout, []string{"ID", "TIME", "STATUS", "SIZE", "RUN", "RECORDED AT"}, rows)
	return nil
}

package main

import (
	"context"
	"flag"
	"fmt"
)

func init() {
	register(&command{name: "runs", args: "[TARGET] [--limit N]", short: "list runs, newest first", run: runRuns})
}

func runRuns(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("runs", flag.ContinueOnError)
	limit := fs.Int("limit", 20, "show at most `N` runs (0: all)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("usage: cadang runs [TARGET] [--limit N]")
	}
	target := ""
	if len(pos) == 1 {
		target = pos[0]
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	runs, err := c.Runs(ctx, target, *limit)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, runs)
	}
	rows := make([][]string, 0, len(runs))
	for _, r := range runs {
		detail := r.Error
		if detail == "" && r.Waiting != "" {
			detail = r.Waiting
		}
		if detail == "" && r.Op == "backup" && r.SnapshotID != "" {
			detail = fmt.Sprintf("%s added", humanBytes(r.BytesAdded))
		}
		rows = append(rows, []string{fmt.Sprint(r.ID), r.Op, orDash(r.Target), orDash(r.DRC), shortTime(r.Time),
			took(r.Run), string(r.Status), orDash(short(r.SnapshotID)), detail})
	}
	table(g.stdout, []string{"RUN", "OP", "TARGET", "DRC", "TIME", "TOOK", "STATUS", "SNAPSHOT", "DETAIL"}, rows)
	return nil
}

package main

import (
	"context"
	"flag"
	"fmt"
)

func init() {
	register(&command{name: "schedule", args: "[--hours N | --days N]",
		short: "the runs planned for the next 24 hours (or N), maintenance windows included", run: runSchedule})
}

func runSchedule(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("schedule", flag.ContinueOnError)
	hours := fs.Int("hours", 0, "show the next `N` hours (default 24)")
	days := fs.Int("days", 0, "show the next `N` days")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || (*hours != 0 && *days != 0) || *hours < 0 || *days < 0 {
		return usageErrorf("usage: cadang schedule [--hours N | --days N]")
	}
	n := 24
	switch {
	case *hours > 0:
		n = *hours
	case *days > 0:
		n = *days * 24
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	ans, err := c.Schedule(ctx, n)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, ans.Runs)
	}
	fmt.Fprintf(g.stdout, "planned from %s to %s (%s): %d entries\n", zoneTime(ans.From, ans.TimeZone), zoneTime(ans.To, ans.TimeZone), ans.TimeZone, len(ans.Runs))
	if len(ans.Runs) == 0 {
		fmt.Fprintln(g.stdout, "nothing is scheduled")
		return nil
	}
	table(g.stdout, []string{"TIME", "IN", "OP", "TARGET", "DRC", "STATUS"}, plannedRows(ans.Runs, ans.From, ans.TimeZone))
	return nil
}

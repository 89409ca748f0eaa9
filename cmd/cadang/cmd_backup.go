package main

import (
	"context"
	"flag"
	"fmt"
)

func init() {
	register(&command{name: "backup", args: "TARGET [--wait]", short: "back up a target now", run: runBackup})
}

func runBackup(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	wait := fs.Bool("wait", false, "wait for the run to end; exit with its status")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("usage: cadang backup TARGET [--wait]")
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	ri, err := c.Backup(ctx, pos[0])
	if err != nil {
		return err
	}
	if !*wait {
		if g.json {
			return printJSON(g.stdout, ri)
		}
		fmt.Fprintf(g.stdout, "run %d queued: backup of %s\n", ri.ID, ri.Target)
		return nil
	}
	pp := newProgressPrinter(g.stdout, g.json)
	final, err := waitRun(ctx, c, ri.ID, pp.update)
	pp.done()
	if err != nil {
		return err
	}
	if g.json {
		if err := printJSON(g.stdout, final); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(g.stdout, "run %d %s: backup of %s to drc %s", final.ID, final.Status, final.Target, orDash(final.DRC))
		if final.SnapshotID != "" {
			fmt.Fprintf(g.stdout, ", snapshot %s, %s processed, %s added (%s stored)", short(final.SnapshotID),
				humanBytes(final.BytesProcessed), humanBytes(final.BytesAdded), humanBytes(final.BytesStored))
		}
		fmt.Fprintf(g.stdout, " in %s\n", took(final.Run))
		for _, n := range final.Notes {
			fmt.Fprintf(g.stdout, "  note: %s\n", n)
		}
	}
	return exitFor(final)
}

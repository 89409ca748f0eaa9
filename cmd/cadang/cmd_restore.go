package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cadang/cadang/engine/api"
)

func init() {
	register(&command{name: "restore", args: "TARGET [--snapshot ID|latest] [--drc NAME] --to DEST [--force]",
		short: "restore a snapshot and wait for it", run: runRestore})
}

func runRestore(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	snapshot := fs.String("snapshot", "latest", "snapshot `ID` (or a unique prefix), or latest: the newest good one")
	drcName := fs.String("drc", "", "the DRC to restore from (default: the primary)")
	to := fs.String("to", "", "destination: a directory, a file, or a URL the target's kind understands")
	force := fs.Bool("force", false, "allow a destination that already holds data")
	define := fs.String("define", "", "libvirt: also define a domain named `NAME` on the restored disks")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *to == "" {
		return usageErrorf("usage: cadang restore TARGET [--snapshot ID|latest] [--drc NAME] --to DEST [--force]")
	}
	dest := *to
	if !strings.Contains(dest, "://") {
		// The daemon resolves nothing relative to its own working directory.
		if dest, err = filepath.Abs(dest); err != nil {
			return err
		}
	}
	req := api.RestoreRequest{Target: pos[0], Snapshot: *snapshot, DRC: *drcName, To: dest, Force: *force}
	if *define != "" {
		req.Options = map[string]string{"define": *define}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	ri, err := c.Restore(ctx, req)
	if err != nil {
		return err
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
		fmt.Fprintf(g.stdout, "run %d %s: restore of %s snapshot %s from drc %s to %s, %s in %s\n", final.ID, final.Status,
			final.Target, orDash(short(final.SnapshotID)), final.DRC, final.Destination, humanBytes(final.BytesProcessed), took(final.Run))
		for _, n := range final.Notes {
			fmt.Fprintf(g.stdout, "  note: %s\n", n)
		}
	}
	return exitFor(final)
}

package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
)

func init() {
	register(&command{name: "cancel", args: "RUN", short: "cancel a queued or running run", run: runCancel})
}

func runCancel(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("cancel", flag.ContinueOnError)
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("usage: cadang cancel RUN")
	}
	id, err := strconv.ParseUint(pos[0], 10, 64)
	if err != nil {
		return usageErrorf("run %q: give the run's number", pos[0])
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	if err := c.Cancel(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "run %d: cancel requested\n", id)
	return nil
}

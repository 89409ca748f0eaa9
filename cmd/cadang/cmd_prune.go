package main

import (
	"context"
	"flag"

	"github.com/cadang/cadang/engine/api"
)

func init() {
	register(&command{name: "prune", args: "[AGENCY] [--drc NAME|all] [--wait]",
		short: "free the data no snapshot uses (restic prune), per agency repository", run: runPrune})
}

func runPrune(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("prune", flag.ContinueOnError)
	drcName := fs.String("drc", "", "the DRC (a name, or all; default: the primary)")
	wait := fs.Bool("wait", false, "wait for the runs to end; exit with the worst status")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("usage: cadang prune [AGENCY] [--drc NAME|all] [--wait]")
	}
	req := api.MaintenanceRequest{DRC: *drcName}
	if len(pos) == 1 {
		req.Agency = pos[0]
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	runs, err := c.Prune(ctx, req)
	if err != nil {
		return err
	}
	return finishRuns(ctx, g, c, runs, *wait)
}

package main

import (
	"context"
	"flag"

	"github.com/cadang/cadang/engine/api"
)

func init() {
	register(&command{name: "check", args: "[AGENCY] [--drc NAME|all] [--read-data-subset 5%] [--wait]",
		short: "check repositories (restic check), per agency repository", run: runCheck})
}

func runCheck(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	drcName := fs.String("drc", "", "the DRC (a name, or all; default: the primary)")
	subset := fs.String("read-data-subset", "", "read this `percentage` of the data (default: the DRC's rotating read_data_subset)")
	wait := fs.Bool("wait", false, "wait for the runs to end; exit with the worst status")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("usage: cadang check [AGENCY] [--drc NAME|all] [--read-data-subset 5%%] [--wait]")
	}
	req := api.MaintenanceRequest{DRC: *drcName, ReadDataSubset: *subset}
	if len(pos) == 1 {
		req.Agency = pos[0]
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	runs, err := c.Check(ctx, req)
	if err != nil {
		return err
	}
	return finishRuns(ctx, g, c, runs, *wait)
}

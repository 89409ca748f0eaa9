package main

import (
	"context"
	"flag"

	"github.com/cadang/cadang/engine/api"
)

func init() {
	register(&command{name: "drill", args: "TARGET|--all [--drc NAME] [--wait]",
		short: "prove that targets restore: a restore drill from each DRC, with a report", run: runDrill})
}

func runDrill(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	all := fs.Bool("all", false, "drill every target")
	drcName := fs.String("drc", "", "drill from this DRC only (default: the target's drill.drcs, every DRC unless set)")
	wait := fs.Bool("wait", false, "wait for the drills to end and print where their reports are; exit with the worst status")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if (len(pos) == 1) == *all || len(pos) > 1 {
		return usageErrorf("usage: cadang drill TARGET|--all [--drc NAME] [--wait]")
	}
	req := api.DrillRequest{All: *all, DRC: *drcName}
	if len(pos) == 1 {
		req.Target = pos[0]
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	runs, err := c.Drill(ctx, req)
	if err != nil {
		return err
	}
	return finishRuns(ctx, g, c, runs, *wait)
}

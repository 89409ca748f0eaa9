package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/cadang/cadang/engine"
	"github.com/cadang/cadang/engine/api"
)

func init() {
	register(&command{name: "forget", args: "TARGET [--dry-run] [--wait]", short: "apply a target's retention policy now", run: runForget})
}

func runForget(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("forget", flag.ContinueOnError)
	dryRun := fs.Bool("dry-run", false, "only say which snapshots would be removed (implies --wait)")
	wait := fs.Bool("wait", false, "wait for the run to end; exit with its status")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("usage: cadang forget TARGET [--dry-run] [--wait]")
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	ri, err := c.Forget(ctx, api.ForgetRequest{Target: pos[0], DryRun: *dryRun})
	if err != nil {
		return err
	}
	if err := finishRuns(ctx, g, c, []api.RunInfo{*ri}, *wait || *dryRun); err != nil || g.json || !(*wait || *dryRun) {
		return err
	}
	final, err := c.Run(ctx, ri.ID)
	if err != nil {
		return err
	}
	var res engine.RetentionResult
	if json.Unmarshal(final.Manifest, &res) != nil {
		return nil
	}
	verb := "removed"
	if res.DryRun {
		verb = "would remove"
	}
	rows := [][]string{}
	for _, d := range res.Kept {
		rows = append(rows, []string{short(d.ID), shortTime(d.Time), d.Status, "keep", joinNonEmpty(", ", d.Reasons...)})
	}
	for _, d := range res.Removed {
		rows = append(rows, []string{short(d.ID), shortTime(d.Time), d.Status, verb, joinNonEmpty(", ", d.Reasons...)})
	}
	fmt.Fprintln(g.stdout)
	table(g.stdout, []string{"SNAPSHOT", "TIME", "STATUS", "DECISION", "WHY"}, rows)
	return nil
}

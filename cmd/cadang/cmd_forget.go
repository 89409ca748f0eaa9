package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cadang/cadang/engine"
	"github.com/cadang/cadang/engine/api"
)

// ForgetOptions are the flags of `cadang forget`.
type ForgetOptions struct {
	DryRun bool
	Wait   bool
}

// AddFlags adds the options' flags to f.
func (o *ForgetOptions) AddFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.DryRun, "dry-run", false, "only say which snapshots would be removed (implies --wait)")
	f.BoolVar(&o.Wait, "wait", false, "wait for the run to end; exit with its status")
}

func newForgetCommand(g *globals) *cobra.Command {
	var opts ForgetOptions
	cmd := &cobra.Command{
		Use:   "forget TARGET [--dry-run] [--wait]",
		Short: "apply a target's retention policy now",
		Long: `Queue a forget run that applies TARGET's retention policy now (each successful backup
queues one anyway). With --dry-run nothing is removed: the command waits and lists each
snapshot, whether it would be kept or removed, and why. With --wait, it waits for the
run, lists the decisions and exits with the run's status.`,
		Example: `  cadang forget portal-files --dry-run
  cadang forget portal-files --wait`,
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runForget(cmd.Context(), g, opts, args[0])
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runForget(ctx context.Context, g *globals, opts ForgetOptions, target string) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	ri, err := c.Forget(ctx, api.ForgetRequest{Target: target, DryRun: opts.DryRun})
	if err != nil {
		return err
	}
	wait := opts.Wait || opts.DryRun
	if err := finishRuns(ctx, g, c, []api.RunInfo{*ri}, wait); err != nil || g.json || !wait {
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

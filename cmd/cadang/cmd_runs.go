package main

import (
	"context"
	"fmt"

	"github.com/cadang/cadang/internal/iec"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// RunsOptions are the flags of `cadang runs`.
type RunsOptions struct {
	Limit int
}

// AddFlags adds the options' flags to f.
func (o *RunsOptions) AddFlags(f *pflag.FlagSet) {
	f.IntVar(&o.Limit, "limit", 20, "show at most `N` runs (0: all)")
}

func newRunsCommand(g *globals) *cobra.Command {
	var opts RunsOptions
	cmd := &cobra.Command{
		Use:   "runs [TARGET] [--limit N]",
		Short: "list runs, newest first",
		Long: `List the runs (backups, restores, replication passes, checks, prunes, drills...), newest
first, of every target or of TARGET: each one's number, operation, DRC, time, how long
it took, status and snapshot, and why it failed or waits.`,
		Example: `  cadang runs
  cadang runs portal-files --limit 0
  cadang runs --json`,
		Args:              usageArgs(cobra.MaximumNArgs(1)),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRuns(cmd.Context(), g, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runRuns(ctx context.Context, g *globals, opts RunsOptions, args []string) error {
	target := ""
	if len(args) == 1 {
		target = args[0]
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	runs, err := c.Runs(ctx, target, opts.Limit)
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
			detail = fmt.Sprintf("%s added", iec.UBytes(r.BytesAdded))
		}
		rows = append(rows, []string{fmt.Sprint(r.ID), r.Op, orDash(r.Target), orDash(r.DRC), shortTime(r.Time),
			took(r.Run), string(r.Status), orDash(short(r.SnapshotID)), detail})
	}
	table(g.stdout, []string{"RUN", "OP", "TARGET", "DRC", "TIME", "TOOK", "STATUS", "SNAPSHOT", "DETAIL"}, rows)
	return nil
}

package main

import (
	"context"

	"github.com/cadang/cadang/engine/api"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// PruneOptions are the flags of `cadang prune`.
type PruneOptions struct {
	DRC  string
	Wait bool
}

// AddFlags adds the options' flags to f.
func (o *PruneOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.DRC, "drc", "", "the DRC (a name, or all; default: the primary)")
	f.BoolVar(&o.Wait, "wait", false, "wait for the runs to end; exit with the worst status")
}

func newPruneCommand(g *globals) *cobra.Command {
	var opts PruneOptions
	cmd := &cobra.Command{
		Use:   "prune [AGENCY] [--drc NAME|all] [--wait]",
		Short: "free the data no snapshot uses (restic prune), per agency repository",
		Long: `Queue a restic prune of each agency's repository (or of AGENCY's) at the primary DRC:
the data that no snapshot uses any more is freed. A secondary is never pruned by
restic: replication mirrors the primary's deletions there, after a delay. With --wait,
the command waits for the runs and exits with the worst status.`,
		Example: `  cadang prune --wait
  cadang prune dinkes`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrune(cmd.Context(), g, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runPrune(ctx context.Context, g *globals, opts PruneOptions, args []string) error {
	req := api.MaintenanceRequest{DRC: opts.DRC}
	if len(args) == 1 {
		req.Agency = args[0]
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	runs, err := c.Prune(ctx, req)
	if err != nil {
		return err
	}
	return finishRuns(ctx, g, c, runs, opts.Wait)
}

package main

import (
	"context"

	"github.com/cadang/cadang/engine/api"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// CheckOptions are the flags of `cadang check`.
type CheckOptions struct {
	DRC            string
	ReadDataSubset string
	Wait           bool
}

// AddFlags adds the options' flags to f.
func (o *CheckOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.DRC, "drc", "", "the DRC (a name, or all; default: the primary)")
	f.StringVar(&o.ReadDataSubset, "read-data-subset", "", "read this `percentage` of the data (default: the DRC's rotating read_data_subset)")
	f.BoolVar(&o.Wait, "wait", false, "wait for the runs to end; exit with the worst status")
}

func newCheckCommand(g *globals) *cobra.Command {
	var opts CheckOptions
	cmd := &cobra.Command{
		Use:   "check [AGENCY] [--drc NAME|all] [--read-data-subset 5%] [--wait]",
		Short: "check repositories (restic check), per agency repository",
		Long: `Queue a restic check of each agency's repository (or of AGENCY's) at the primary DRC, at
another one (--drc NAME) or at every DRC (--drc all). Each check reads the next part of
the data (the DRC's read_data_subset, rotating), or the share given with
--read-data-subset. With --wait, the command waits for the checks and exits with the
worst status.`,
		Example: `  cadang check --wait
  cadang check dinkes --drc all --read-data-subset 10% --wait`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd.Context(), g, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runCheck(ctx context.Context, g *globals, opts CheckOptions, args []string) error {
	req := api.MaintenanceRequest{DRC: opts.DRC, ReadDataSubset: opts.ReadDataSubset}
	if len(args) == 1 {
		req.Agency = args[0]
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	runs, err := c.Check(ctx, req)
	if err != nil {
		return err
	}
	return finishRuns(ctx, g, c, runs, opts.Wait)
}

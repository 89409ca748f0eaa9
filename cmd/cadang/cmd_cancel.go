package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

// CancelOptions are the flags of `cadang cancel` (none but the global ones).
type CancelOptions struct{}

func newCancelCommand(g *globals) *cobra.Command {
	var opts CancelOptions
	return &cobra.Command{
		Use:   "cancel RUN",
		Short: "cancel a queued or running run",
		Long: `Cancel the run numbered RUN (see "cadang runs"): a queued run is dropped, a running one is
stopped (restic is interrupted; what it already wrote stays for the next run).`,
		Example: `  cadang runs
  cadang cancel 42`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCancel(cmd.Context(), g, opts, args[0])
		},
	}
}

func runCancel(ctx context.Context, g *globals, _ CancelOptions, run string) error {
	id, err := strconv.ParseUint(run, 10, 64)
	if err != nil {
		return usageErrorf("run %q: give the run's number", run)
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

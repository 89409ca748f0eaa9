package main

import (
	"context"
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/cadang/cadang/targets"
)

func newInternalStreamCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "internal-stream KIND SPECFILE",
		Short:   "(internal) produce a target kind's backup stream",
		Long:    "Run by restic (--stdin-from-command) during a backup: write a target kind's backup stream to standard output.",
		Example: "  cadang internal-stream postgres /var/lib/cadang/tmp/job.json",
		Hidden:  true,
		// The arguments are exactly what targets.SelfCommand passes: nothing is a flag.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInternalStream(cmd.Context(), g, args)
		},
	}
}

// runInternalStream is what targets.SelfCommand runs: restic starts it through
// --stdin-from-command, and a kind's Stream function writes the snapshot's content to
// stdout (for example several database dumps in one archive). A non-zero exit fails
// the snapshot.
func runInternalStream(ctx context.Context, _ *globals, args []string) error {
	if len(args) != 2 {
		return usageErrorf("usage: cadang internal-stream KIND SPECFILE")
	}
	kind, ok := targets.Lookup(args[0])
	if !ok || kind.Stream == nil {
		return usageErrorf("kind %q has no stream", args[0])
	}
	if err := kind.Stream(ctx, args[1], os.Stdout); err != nil {
		return errors.New(targets.FirstLine(err.Error()))
	}
	return nil
}

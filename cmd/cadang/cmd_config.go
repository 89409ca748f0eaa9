package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func newConfigCommand(g *globals) *cobra.Command {
	return newGroupCommand("config COMMAND", "work with the configuration file",
		`Commands about the configuration file (see --config for where it is found).`,
		"  cadang config check\n  cadang --config /etc/cadang/cadang.yaml config check",
		newConfigCheckCommand(g))
}

// ConfigCheckOptions are the flags of `cadang config check` (none but the global ones).
type ConfigCheckOptions struct{}

func newConfigCheckCommand(g *globals) *cobra.Command {
	var opts ConfigCheckOptions
	return &cobra.Command{
		Use:   "check",
		Short: "check the configuration; print every problem (exit 2 if any)",
		Long: `Load the configuration and check it as the daemon would, without a daemon: every problem
is printed on a line of its own, starting with file:line:col, and the exit status is 2
if there is any. Nothing is contacted (DRCs, databases).`,
		Example: `  cadang config check
  cadang config check --config ./staging.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConfigCheck(cmd.Context(), g, opts)
		},
	}
}

func runConfigCheck(_ context.Context, g *globals, _ ConfigCheckOptions) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "%s: ok: %d DRCs, %d agencies, %d targets\n", cfg.File, len(cfg.DRCs), len(cfg.Agencies), len(cfg.Targets))
	return nil
}

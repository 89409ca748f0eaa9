package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cadang/cadang/engine"
	"github.com/cadang/cadang/engine/config"

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
if there is any. Only the DRCs configured immutable are contacted: a bucket that cannot
lock objects (created without S3 Object Lock) is a problem located at the DRC's
immutability section; a DRC that does not answer is a note on stderr (its lock was not
checked), not a problem. Nothing else is contacted (other DRCs, databases).`,
		Example: `  cadang config check
  cadang config check --config ./staging.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConfigCheck(cmd.Context(), g, opts)
		},
	}
}

func runConfigCheck(ctx context.Context, g *globals, _ ConfigCheckOptions) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	problems, notes := engine.CheckImmutability(ctx, cfg, slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	for _, n := range notes {
		fmt.Fprintln(g.stderr, n)
	}
	if len(problems) > 0 {
		return &exitError{exitUsage, &config.Error{Problems: problems}}
	}
	fmt.Fprintf(g.stdout, "%s: ok: %d DRCs, %d agencies, %d targets\n", cfg.File, len(cfg.DRCs), len(cfg.Agencies), len(cfg.Targets))
	return nil
}

package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/cadang/cadang/engine"
)

// InitOptions are the flags of `cadang init` (none but the global ones).
type InitOptions struct{}

func newInitCommand(g *globals) *cobra.Command {
	var opts InitOptions
	return &cobra.Command{
		Use:   "init",
		Short: "create the repositories that are missing at every DRC (safe to repeat)",
		Long: `Create each agency's restic repository where it is missing: at the primary with restic
init, and at the other DRCs seeded from it (the same repository, opened there with a key
of its own). A repository that exists is left as it is, so init is safe to run any
number of times. It works without a daemon, from the configuration.`,
		Example: `  cadang init
  cadang init --config /etc/cadang/cadang.yaml --json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInit(cmd.Context(), g, opts)
		},
	}
}

func runInit(ctx context.Context, g *globals, _ InitOptions) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	results, err := engine.Init(ctx, cfg, slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range results {
		if r.Error != "" {
			failed++
		}
	}
	if g.json {
		if err := printJSON(g.stdout, results); err != nil {
			return err
		}
	} else {
		rows := make([][]string, 0, len(results))
		for _, r := range results {
			what := r.Action
			if r.From != "" {
				what += " from " + r.From
			}
			if r.Error != "" {
				what += ": " + r.Error
			}
			rows = append(rows, []string{r.Agency, r.DRC, what})
		}
		table(g.stdout, []string{"AGENCY", "DRC", "RESULT"}, rows)
	}
	if failed > 0 {
		return &exitError{exitFailed, fmt.Errorf("%d of %d repositories are not ready", failed, len(results))}
	}
	return nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/cadang/cadang/engine"
)

func init() {
	register(&command{name: "init", short: "create the repositories that are missing at every DRC (safe to repeat)", run: runInit})
}

func runInit(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("takes no arguments")
	}
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

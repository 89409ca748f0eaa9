package main

import (
	"context"
	"flag"
	"fmt"
)

func init() {
	register(&command{name: "config check", short: "check the configuration; print every problem (exit 2 if any)", run: runConfigCheck})
}

func runConfigCheck(_ context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
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
	fmt.Fprintf(g.stdout, "%s: ok: %d DRCs, %d agencies, %d targets\n", cfg.File, len(cfg.DRCs), len(cfg.Agencies), len(cfg.Targets))
	return nil
}

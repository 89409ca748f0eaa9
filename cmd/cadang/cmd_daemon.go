package main

import (
	"context"
	"flag"
	"log/slog"
	"strings"

	"github.com/cadang/cadang/engine"
)

func init() {
	register(&command{name: "daemon", short: "run the daemon (stops on SIGTERM)", run: runDaemon})
}

func runDaemon(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("takes no arguments")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return usageErrorf("--log-level %q: use debug, info, warn or error", *level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch strings.ToLower(*format) {
	case "text":
		h = slog.NewTextHandler(g.stderr, opts)
	case "json":
		h = slog.NewJSONHandler(g.stderr, opts)
	default:
		return usageErrorf("--log-format %q: use text or json", *format)
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	d, err := engine.New(cfg, engine.Options{Logger: slog.New(h)})
	if err != nil {
		return err
	}
	return d.Serve(ctx)
}

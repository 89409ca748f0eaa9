package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cadang/cadang/engine"
)

// DaemonOptions are the flags of `cadang daemon`.
type DaemonOptions struct {
	LogLevel  string
	LogFormat string
}

// AddFlags adds the options' flags to f.
func (o *DaemonOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.LogFormat, "log-format", "text", "text or json")
}

func newDaemonCommand(g *globals) *cobra.Command {
	var opts DaemonOptions
	cmd := &cobra.Command{
		Use:   "daemon [--log-level LEVEL] [--log-format text|json]",
		Short: "run the daemon (stops on SIGTERM)",
		Long: `Run the daemon in the foreground: it runs the schedules, the queue, replication and drills,
and serves the API on its unix socket (daemon.socket) that every other command uses.
It logs to standard error. SIGTERM (or Ctrl-C) stops it gracefully: running work gets
daemon.shutdown_grace to end.`,
		Example: `  cadang daemon
  cadang daemon --config /etc/cadang/cadang.yaml --log-level debug --log-format json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runDaemon(ctx context.Context, g *globals, o DaemonOptions) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return usageErrorf("--log-level %q: use debug, info, warn or error", o.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch strings.ToLower(o.LogFormat) {
	case "text":
		h = slog.NewTextHandler(g.stderr, opts)
	case "json":
		h = slog.NewJSONHandler(g.stderr, opts)
	default:
		return usageErrorf("--log-format %q: use text or json", o.LogFormat)
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

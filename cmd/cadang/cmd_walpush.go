package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/cadang/cadang/engine"
	"github.com/cadang/cadang/engine/wal"
)

// WALPushOptions are the flags of `cadang wal-push`.
type WALPushOptions struct {
	Target  string
	Socket  string
	Timeout time.Duration
}

// AddFlags adds the flags.
func (o *WALPushOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Target, "target", "", "the continuous postgres `TARGET` the segment belongs to")
	f.StringVar(&o.Socket, "socket", "", "the daemon's WAL `SOCKET` (default: STATE_DIR/wal/push.sock of the configuration)")
	f.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "give up (and fail, so that PostgreSQL retries) after this long")
}

func newWALPushCommand(g *globals) *cobra.Command {
	var opts WALPushOptions
	cmd := &cobra.Command{
		Use:   "wal-push --target TARGET [--socket SOCKET] PATH",
		Short: "hand a WAL segment to the daemon (PostgreSQL's archive_command)",
		Long: `Hand one file PostgreSQL archives (a WAL segment, a timeline history, a backup label)
to the cadang daemon for a target in mode: continuous. The daemon writes it into the
target's spool under its state dir and answers once the file is fsynced there; only
then does wal-push exit 0. Any failure (no daemon, a refusal) exits non-zero, and
PostgreSQL keeps the segment and runs the archive_command again later: nothing is lost
while the daemon is down. ` + "`cadang pg setup TARGET`" + ` prints the archive_command to use.`,
		Example: `  # in postgresql.conf (cadang pg setup TARGET --apply writes it):
  archive_command = '/usr/bin/cadang wal-push --socket=/var/lib/cadang/wal/push.sock --target=simpus %p'`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWALPush(cmd.Context(), g, opts, args[0])
		},
	}
	opts.AddFlags(cmd)
	return cmd
}

func runWALPush(ctx context.Context, g *globals, opts WALPushOptions, path string) error {
	if opts.Target == "" {
		return usageErrorf("usage: cadang wal-push --target TARGET PATH: --target is required")
	}
	socket := opts.Socket
	if socket == "" {
		cfg, err := g.loadConfig()
		if err != nil {
			return err
		}
		socket = engine.WALSocket(cfg.StateDir)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	return wal.Push(ctx, socket, opts.Target, path)
}

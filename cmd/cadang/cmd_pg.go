package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cadang/cadang/engine"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/postgres"
)

func newPGCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pg",
		Short: "PostgreSQL helpers (continuous protection)",
		Long:  "PostgreSQL helpers: `cadang pg setup` prints or applies the server settings of a target in mode: continuous.",
		Example: `  cadang pg setup simpus
  cadang pg setup simpus --apply`,
	}
	cmd.AddCommand(newPGSetupCommand(g))
	return cmd
}

// PGSetupOptions are the flags of `cadang pg setup`.
type PGSetupOptions struct {
	Apply  bool
	Socket string
}

// AddFlags adds the flags.
func (o *PGSetupOptions) AddFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.Apply, "apply", false, "set what differs with ALTER SYSTEM and reload the server (needs a superuser)")
	cmd.Flags().StringVar(&o.Socket, "socket", "", "the WAL socket archive_command pushes to (default: the daemon's; for a target on an agent, that agent's wal_socket)")
}

func newPGSetupCommand(g *globals) *cobra.Command {
	var opts PGSetupOptions
	cmd := &cobra.Command{
		Use:   "setup TARGET [--apply]",
		Short: "print (or apply) the PostgreSQL settings of continuous protection",
		Long: `Print the server settings a postgres target in mode: continuous needs, beside the
values the server runs with: wal_level (replica), archive_mode (on), archive_command
(cadang wal-push to the daemon's WAL socket) and archive_timeout (the target's
archive_interval). cadang changes nothing behind the DBA's back: only with --apply does
it set what differs (ALTER SYSTEM, then pg_reload_conf()). wal_level and archive_mode
take effect only when PostgreSQL restarts, which cadang never does: the output says
which settings wait for a restart. A target pinned to an agent (agent:) pushes its WAL
to that agent: give --socket, the wal_socket of its agent.yaml, and run the command
where the target's database is reachable as its section says. The target's user also needs the REPLICATION
attribute and a pg_hba.conf "replication" line for pg_basebackup. Every backup run
checks these settings again and fails naming the first one that is wrong.`,
		Example: `  cadang pg setup simpus
  cadang pg setup simpus --apply
  sudo systemctl restart postgresql   # if archive_mode or wal_level changed
  cadang pg setup simrs --socket /run/cadang-agent/wal.sock --apply   # simrs has agent: db-02`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPGSetup(cmd.Context(), g, opts, args[0])
		},
	}
	opts.AddFlags(cmd)
	return cmd
}

func runPGSetup(ctx context.Context, g *globals, opts PGSetupOptions, name string) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		if t.Name != name {
			continue
		}
		if _, ok := postgres.IsContinuous(t.Spec); !ok {
			return usageErrorf("target %q is not a postgres target in mode: continuous", name)
		}
		kind, _ := targets.Lookup(t.Kind)
		impl, err := kind.New(targets.Spec{Name: t.Name, Agency: t.Agency, Config: t.Spec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			return err
		}
		pg := impl.(*postgres.Target)
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		if exe, err = filepath.EvalSymlinks(exe); err != nil {
			return err
		}
		socket := opts.Socket
		if socket == "" {
			if t.Agent != "" {
				return usageErrorf("target %q runs on agent %s: give --socket, the wal_socket of that agent's agent.yaml", name, t.Agent)
			}
			socket = engine.WALSocket(cfg.StateDir)
		} else if !filepath.IsAbs(socket) {
			return usageErrorf("--socket %q: give an absolute path (archive_command runs in PostgreSQL's data directory)", socket)
		}
		command := postgres.ArchiveCommand(exe, socket, name)
		var settings []postgres.Setting
		if opts.Apply {
			settings, err = pg.Apply(ctx, command)
		} else {
			settings, err = pg.Settings(ctx, command)
		}
		if err != nil {
			return err
		}
		return printSettings(g, settings)
	}
	return usageErrorf("unknown target %q", name)
}

func printSettings(g *globals, settings []postgres.Setting) error {
	if g.json {
		return printJSON(g.stdout, settings)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tSERVER\tNEEDED\tSTATE")
	bad := 0
	for _, s := range settings {
		state := "ok"
		switch {
		case s.Restart:
			state, bad = "waits for a restart of PostgreSQL", bad+1
		case !s.OK:
			state, bad = "differs (cadang pg setup --apply sets it)", bad+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Have, s.Want, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if bad > 0 {
		return &exitError{exitFailed, fmt.Errorf("%d setting(s) not as continuous protection needs", bad)}
	}
	return nil
}

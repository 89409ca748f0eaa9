package main

import (
	"context"
	"fmt"

	"github.com/cadang/cadang/internal/iec"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// BackupOptions are the flags of `cadang backup`.
type BackupOptions struct {
	Wait bool
}

// AddFlags adds the options' flags to f.
func (o *BackupOptions) AddFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.Wait, "wait", false, "wait for the run to end; exit with its status")
}

func newBackupCommand(g *globals) *cobra.Command {
	var opts BackupOptions
	cmd := &cobra.Command{
		Use:   "backup TARGET [--wait]",
		Short: "back up a target now",
		Long: `Queue a backup of TARGET (a target of the configuration) at the primary DRC now, whatever
its schedule. Without --wait the command prints the queued run and returns; with --wait
it follows the run (a progress bar on a terminal, plain lines otherwise) and exits with
its status: 0 succeeded, 1 failed, 3 partial (some files could not be read), 4 stopped
waiting (Ctrl-C: the run goes on in the daemon).`,
		Example: `  cadang backup portal-files
  cadang backup portal-files --wait
  cadang backup simpus-db --wait --json`,
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackup(cmd.Context(), g, opts, args[0])
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runBackup(ctx context.Context, g *globals, opts BackupOptions, target string) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	ri, err := c.Backup(ctx, target)
	if err != nil {
		return err
	}
	if !opts.Wait {
		if g.json {
			return printJSON(g.stdout, ri)
		}
		fmt.Fprintf(g.stdout, "run %d queued: backup of %s\n", ri.ID, ri.Target)
		return nil
	}
	pp := newProgressPrinter(g.stdout, g.json)
	final, err := waitRun(ctx, c, ri.ID, pp.update)
	pp.done()
	if err != nil {
		return err
	}
	if g.json {
		if err := printJSON(g.stdout, final); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(g.stdout, "run %d %s: backup of %s to drc %s", final.ID, final.Status, final.Target, orDash(final.DRC))
		if final.SnapshotID != "" {
			fmt.Fprintf(g.stdout, ", snapshot %s, %s processed, %s added (%s stored)", short(final.SnapshotID),
				iec.UBytes(final.BytesProcessed), iec.UBytes(final.BytesAdded), iec.UBytes(final.BytesStored))
		}
		fmt.Fprintf(g.stdout, " in %s\n", took(final.Run))
		for _, n := range final.Notes {
			fmt.Fprintf(g.stdout, "  note: %s\n", n)
		}
	}
	return exitFor(final)
}

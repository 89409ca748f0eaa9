package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cadang/cadang/internal/iec"
)

// LsOptions are the flags of `cadang ls`.
type LsOptions struct {
	DRC string
}

// AddFlags adds the options' flags to f.
func (o *LsOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.DRC, "drc", "", "list the snapshot at this `DRC` (default: the primary)")
}

func newLsCommand(g *globals) *cobra.Command {
	var opts LsOptions
	cmd := &cobra.Command{
		Use:   "ls TARGET [SNAPSHOT] [PATH] [--drc NAME]",
		Short: "list a folder of a target's snapshot",
		Long: `List what a folder of a snapshot of TARGET holds directly (restic ls, without a lock):
type, size, modification time and path. SNAPSHOT is an id, a unique prefix, or latest
(the default: the newest good snapshot); PATH is a folder as the snapshot holds it
(absolute; default: the top). Use it to find what to give restore --include.`,
		Example: `  cadang ls portal-files
  cadang ls portal-files latest /srv/portal/uploads
  cadang ls portal-files 3f2a9c1d /srv/portal --drc offsite --json`,
		Args:              usageArgs(cobra.RangeArgs(1, 3)),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLs(cmd.Context(), g, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runLs(ctx context.Context, g *globals, opts LsOptions, args []string) error {
	snapshot, dir := "", ""
	if len(args) > 1 {
		snapshot = args[1]
	}
	if len(args) > 2 {
		dir = args[2]
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	l, err := c.List(ctx, args[0], snapshot, opts.DRC, dir)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, l.Entries)
	}
	rows := make([][]string, 0, len(l.Entries))
	for _, e := range l.Entries {
		size := "-"
		if e.Type == "file" {
			size = iec.UBytes(e.Size)
		}
		rows = append(rows, []string{e.Type, size, shortTime(e.Time), e.Path})
	}
	fmt.Fprintf(g.stdout, "snapshot %s of %s (%s) at drc %s: %s\n", short(l.Snapshot), l.Target, shortTime(l.Time), l.DRC, l.Path)
	table(g.stdout, []string{"TYPE", "SIZE", "MODIFIED", "PATH"}, rows)
	return nil
}

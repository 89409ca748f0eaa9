package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/internal/iec"
)

// SnapshotsOptions are the flags of `cadang snapshots`.
type SnapshotsOptions struct {
	DRC string
}

// AddFlags adds the options' flags to f.
func (o *SnapshotsOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.DRC, "drc", "", "list the repository at this `DRC` (default: every DRC, from the ledger)")
}

func newSnapshotsCommand(g *globals) *cobra.Command {
	var opts SnapshotsOptions
	cmd := &cobra.Command{
		Use:   "snapshots TARGET [--drc NAME]",
		Short: "list a target's snapshots at every DRC (or at one)",
		Long: `List TARGET's snapshots, newest last, with their status and size and, for each DRC, since
when the snapshot is restorable there (from the ledger) and when it goes from a
secondary after a deletion at the primary. With --drc, what the repository at that DRC
holds, as restic lists it.`,
		Example: `  cadang snapshots portal-files
  cadang snapshots portal-files --drc offsite --json`,
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshots(cmd.Context(), g, opts, args[0])
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runSnapshots(ctx context.Context, g *globals, opts SnapshotsOptions, target string) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	snaps, err := c.Snapshots(ctx, target, opts.DRC)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, snaps)
	}
	// Without --drc: one column per DRC, saying since when the snapshot is restorable
	// there (from the ledger), "-" where it is not (yet), and when it goes from a
	// secondary after a deletion at the primary.
	// The DRCs are the daemon's (the configuration it runs), the primary first.
	var drcs []string
	if opts.DRC == "" {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		for _, d := range st.DRCs {
			if d.Role == drc.RolePrimary {
				drcs = append([]string{d.Name}, drcs...)
			} else {
				drcs = append(drcs, d.Name)
			}
		}
	}
	rows := make([][]string, 0, len(snaps))
	for _, s := range snaps {
		run := "-"
		if s.Run != 0 {
			run = fmt.Sprint(s.Run)
		}
		status := s.Status
		for _, d := range slices.Sorted(maps.Keys(s.Damaged)) {
			status += ", damaged at " + d
		}
		row := []string{s.ShortID, shortTime(s.Time), status, iec.UBytes(s.Bytes), run}
		if opts.DRC != "" {
			var sites []string
			for name := range s.Sites {
				sites = append(sites, name)
			}
			sort.Strings(sites)
			row = append(row, orDash(strings.Join(sites, ",")))
		}
		for _, d := range drcs {
			cell := "-"
			if at, ok := s.Sites[d]; ok {
				cell = shortTime(at)
			}
			if _, ok := s.Damaged[d]; ok {
				cell += " (damaged)"
			}
			if until, ok := s.DeleteAt[d]; ok {
				cell += " (deleted " + shortTime(until) + ")"
			}
			if until, ok := s.Immutable[d]; ok {
				cell += " (locked until " + shortDate(until) + ")"
			}
			row = append(row, cell)
		}
		rows = append(rows, row)
	}
	header := []string{"ID", "TIME", "STATUS", "SIZE", "RUN"}
	if opts.DRC != "" {
		header = append(header, "RECORDED AT")
	}
	for _, d := range drcs {
		header = append(header, "AT "+strings.ToUpper(d))
	}
	table(g.stdout, header, rows)
	return nil
}

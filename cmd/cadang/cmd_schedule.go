package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ScheduleOptions are the flags of `cadang schedule`.
type ScheduleOptions struct {
	Hours int
	Days  int
}

// AddFlags adds the options' flags to f.
func (o *ScheduleOptions) AddFlags(f *pflag.FlagSet) {
	f.IntVar(&o.Hours, "hours", 0, "show the next `N` hours (default 24)")
	f.IntVar(&o.Days, "days", 0, "show the next `N` days")
}

func newScheduleCommand(g *globals) *cobra.Command {
	var opts ScheduleOptions
	cmd := &cobra.Command{
		Use:   "schedule [--hours N | --days N]",
		Short: "the runs planned for the next 24 hours (or N), maintenance windows included",
		Long: `List the runs the daemon plans for the next 24 hours (or --hours N, or --days N): backups,
prunes, checks, drills, and the maintenance windows, with the runs a window will hold,
in the daemon's time zone.`,
		Example: `  cadang schedule
  cadang schedule --days 7`,
		Args: usageArgs(func(_ *cobra.Command, args []string) error {
			if len(args) > 0 || (opts.Hours != 0 && opts.Days != 0) || opts.Hours < 0 || opts.Days < 0 {
				return errors.New("bad arguments")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSchedule(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runSchedule(ctx context.Context, g *globals, opts ScheduleOptions) error {
	n := 24
	switch {
	case opts.Hours > 0:
		n = opts.Hours
	case opts.Days > 0:
		n = opts.Days * 24
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	ans, err := c.Schedule(ctx, n)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, ans.Runs)
	}
	fmt.Fprintf(g.stdout, "planned from %s to %s (%s): %d entries\n", zoneTime(ans.From, ans.TimeZone), zoneTime(ans.To, ans.TimeZone), ans.TimeZone, len(ans.Runs))
	if len(ans.Runs) == 0 {
		fmt.Fprintln(g.stdout, "nothing is scheduled")
		return nil
	}
	table(g.stdout, []string{"TIME", "IN", "OP", "TARGET", "DRC", "STATUS"}, plannedRows(ans.Runs, ans.From, ans.TimeZone))
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cadang/cadang/engine/api"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// DRCRepairOptions are the flags of `cadang drc repair`.
type DRCRepairOptions struct {
	DRC, Agency string
	DryRun      bool
	Wait        bool
}

// AddFlags adds the options' flags to f.
func (o *DRCRepairOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.DRC, "drc", "", "repair at this DRC only (default: every DRC with damage)")
	f.StringVar(&o.Agency, "agency", "", "repair this agency's repository only")
	f.BoolVar(&o.DryRun, "dry-run", false, "say what would be repaired, from where, and what is lost; change nothing")
	f.BoolVar(&o.Wait, "wait", false, "wait for the repair runs to end; exit 1 if anything stays damaged")
}

func newDRCRepairCommand(g *globals) *cobra.Command {
	var opts DRCRepairOptions
	cmd := &cobra.Command{
		Use:   "repair [--drc NAME] [--agency ID] [--dry-run] [--wait]",
		Short: "replace damaged objects with good copies from another DRC",
		Long: `Repair the damaged objects recorded at the DRCs (see "cadang drc damage"): each is replaced
by a copy from another DRC whose SHA-256 matches its name, written whole and read back.
A copy that does not match is refused and recorded as damage at its DRC too. When no
DRC holds a good copy, the run names the snapshots and the files they lose, marks those
snapshots damaged there and, at the primary, moves the object aside and repairs the
index so that the next backup stores the data again.

cadang queues this by itself as soon as damage is found; the command is for doing it
now, or for seeing first what it would do (--dry-run).`,
		Example: `  cadang drc repair --dry-run
  cadang drc repair --drc offsite --agency dinkes --wait`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDRCRepair(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runDRCRepair(ctx context.Context, g *globals, opts DRCRepairOptions) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	runs, err := c.Repair(ctx, api.RepairRequest{DRC: opts.DRC, Agency: opts.Agency, DryRun: opts.DryRun})
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		if g.json {
			return printJSON(g.stdout, runs)
		}
		fmt.Fprintln(g.stdout, "no damaged object is recorded: nothing to repair")
		return nil
	}
	if !opts.Wait && !opts.DryRun {
		if g.json {
			return printJSON(g.stdout, runs)
		}
		for _, r := range runs {
			fmt.Fprintf(g.stdout, "run %d queued: repair agency %s at drc %s\n", r.ID, r.Agency, r.DRC)
		}
		return nil
	}
	ended, failed, err := waitAll(ctx, c, runs)
	if err != nil {
		return err
	}
	var reports []api.RepairReport
	for _, ri := range ended {
		var rep api.RepairReport
		if len(ri.Manifest) > 0 && json.Unmarshal(ri.Manifest, &rep) == nil {
			reports = append(reports, rep)
		}
		if g.json {
			continue
		}
		what := "repair"
		if opts.DryRun {
			what = "dry run of the repair"
		}
		fmt.Fprintf(g.stdout, "run %d %s: %s of agency %s at drc %s\n", ri.ID, ri.Status, what, ri.Agency, ri.DRC)
		printRepairReport(g, &rep)
		if ri.Error != "" {
			fmt.Fprintf(g.stdout, "  error: %s\n", ri.Error)
		}
	}
	if g.json {
		if err := printJSON(g.stdout, reports); err != nil {
			return err
		}
	}
	if failed > 0 {
		return &exitError{exitFailed, fmt.Errorf("%d of %d repair runs did not succeed: damage remains", failed, len(ended))}
	}
	return nil
}

func printRepairReport(g *globals, rep *api.RepairReport) {
	for _, o := range rep.Objects {
		line := fmt.Sprintf("  %-12s %s", o.Outcome, o.Object)
		if o.From != "" {
			line += " from drc " + o.From
		}
		if o.Message != "" {
			line += ": " + o.Message
		}
		fmt.Fprintln(g.stdout, line)
	}
	for _, l := range rep.Lost {
		more := ""
		if l.More > 0 {
			more = fmt.Sprintf(" and %d more", l.More)
		}
		fmt.Fprintf(g.stdout, "  snapshot %.8s loses %s%s\n", l.Snapshot, strings.Join(l.Paths, ", "), more)
	}
	if rep.IndexRepair != "" {
		fmt.Fprintf(g.stdout, "  restic repair index: %s\n", rep.IndexRepair)
	}
}

// DRCDamageOptions are the flags of `cadang drc damage`.
type DRCDamageOptions struct {
	DRC, Agency string
	All         bool
}

// AddFlags adds the options' flags to f.
func (o *DRCDamageOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.DRC, "drc", "", "only this DRC")
	f.StringVar(&o.Agency, "agency", "", "only this agency")
	f.BoolVar(&o.All, "all", false, "also the damage already repaired or settled")
}

func newDRCDamageCommand(g *globals) *cobra.Command {
	var opts DRCDamageOptions
	cmd := &cobra.Command{
		Use:   "damage [--drc NAME] [--agency ID] [--all]",
		Short: "the damaged objects found at the DRCs",
		Long: `List the objects of the repositories found damaged (bytes that do not hash to the object's
name, or that cannot be read whole) at each DRC: what found them and when, and what
became of them (open, repaired from another DRC, moved aside, gone). Replication,
verify, check, restores and drills all report here.`,
		Example: `  cadang drc damage
  cadang drc damage --all --agency dinkes`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.Damage(cmd.Context(), opts.All, opts.DRC, opts.Agency)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, list)
			}
			if len(list) == 0 {
				fmt.Fprintln(g.stdout, "no damaged object")
				return nil
			}
			for _, d := range list {
				fmt.Fprintf(g.stdout, "%-11s drc %s agency %s %s (found by %s, %d time(s), last %s)\n", d.Status, d.DRC, d.Agency, d.Object, d.How, d.Count, shortTime(d.Time))
				if d.Status == "repaired" && d.RepairedFrom != "" {
					fmt.Fprintf(g.stdout, "  repaired from drc %s by run %d\n", d.RepairedFrom, d.RepairRun)
				}
				if d.Lost {
					fmt.Fprintf(g.stdout, "  no DRC holds a good copy: %d snapshot(s) lose data\n", len(d.Snapshots))
				}
				if d.Note != "" {
					fmt.Fprintf(g.stdout, "  %s\n", d.Note)
				}
			}
			return nil
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

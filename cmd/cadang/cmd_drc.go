package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/iec"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newDRCCommand(g *globals) *cobra.Command {
	return newGroupCommand("drc COMMAND", "the DRCs: their health and replication",
		`Commands about the DRCs (data recovery centers) of the configuration: how each one is
and what is not there yet ("drc status"), replication to the secondaries now
("drc sync"), the damaged objects found there ("drc damage"), their repair from
another DRC ("drc repair"), and the recovery of objects hidden behind S3 delete
markers ("drc recover").`,
		"  cadang drc status\n  cadang drc sync --wait\n  cadang drc repair --dry-run\n  cadang drc recover --drc offsite --wait",
		newDRCStatusCommand(g), newDRCSyncCommand(g), newDRCDamageCommand(g), newDRCRepairCommand(g), newDRCRecoverCommand(g))
}

// DRCStatusOptions are the flags of `cadang drc status`.
type DRCStatusOptions struct {
	Check bool
}

// AddFlags adds the options' flags to f.
func (o *DRCStatusOptions) AddFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.Check, "check", false, "for monitoring: print each problem on a line, exit 1 if there is any")
}

func newDRCStatusCommand(g *globals) *cobra.Command {
	var opts DRCStatusOptions
	cmd := &cobra.Command{
		Use:   "status [--json | --check]",
		Short: "each DRC's health, replication lag, pending work and alarms",
		Long: `Probe each DRC now and print its health (reachable, free space, versioning, object lock),
the replication lag of each secondary, the snapshots and bytes not yet there, the
deletions pending there, and the open alarms. With --check (for monitoring), one line
per problem and exit 1 if there is any, one "ok" line and exit 0 if there is none.`,
		Example: `  cadang drc status
  cadang drc status --check
  cadang drc status --json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDRCStatus(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runDRCStatus(ctx context.Context, g *globals, opts DRCStatusOptions) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	drcs, err := c.DRCs(ctx)
	if err != nil {
		return err
	}
	if opts.Check {
		var problems []string
		for _, d := range drcs {
			problems = append(problems, d.Problems...)
		}
		return reportCheck(g, problems, fmt.Sprintf("%d DRCs", len(drcs)))
	}
	if g.json {
		return printJSON(g.stdout, drcs)
	}
	rows := make([][]string, 0, len(drcs))
	var notes []string
	var alarms []api.Alarm
	for _, d := range drcs {
		h := d.Health
		reach := "yes"
		if !h.Reachable {
			reach = "NO"
			notes = append(notes, h.Error)
		}
		// Health is probed at most a minute before (a failure is probed again at
		// once): an older answer says how old it is.
		if age := time.Since(h.Checked); !h.Checked.IsZero() && age >= 10*time.Second {
			reach += fmt.Sprintf(" (probed %s ago)", age.Round(time.Second))
		}
		free := "-"
		switch {
		case h.FreeBytes != nil && h.TotalBytes != nil:
			free = fmt.Sprintf("%s of %s", iec.UBytes(*h.FreeBytes), iec.UBytes(*h.TotalBytes))
		case h.Capacity != "":
			free = "not reported"
		}
		lag, pending, dels := "-", "-", "-"
		if r := d.Replication; r != nil {
			lag = r.Lag
			if r.MaxLag != "" {
				lag += " (max " + r.MaxLag + ")"
				if r.LagExceeded {
					lag += " EXCEEDED"
				}
			}
			pending = fmt.Sprintf("%d snapshots, %s", r.SnapshotsPending, iec.UBytes(uint64(max(r.BytesPending, 0))))
			if r.ToPrimary > 0 {
				pending += fmt.Sprintf("; %d to bring back", r.ToPrimary)
			}
			dels = fmt.Sprint(r.PendingDeletions)
			if !r.NextDeletion.IsZero() {
				dels += " (next " + shortTime(r.NextDeletion) + ")"
			}
			if r.LastError != "" {
				notes = append(notes, fmt.Sprintf("%s: last pass %s: %s", d.DRC, shortTime(r.LastPass), r.LastError))
			}
		}
		immutable := "no"
		if im := d.Immutability; im != nil {
			immutable = im.Mode + " " + im.Retain
			if !im.LockedUntil.IsZero() {
				immutable += ", newest snapshot locked until " + shortTime(im.LockedUntil)
			}
			for a, n := range im.Hidden {
				what := "agency " + a
				if a == "_state" {
					what = "cadang's state bundles (_state/)"
				}
				notes = append(notes, fmt.Sprintf("%s: %d object(s) of %s HIDDEN behind delete markers: cadang drc recover --drc %s", d.DRC, n, what, d.DRC))
			}
			if im.Lifecycle != "" {
				notes = append(notes, fmt.Sprintf("%s: expired objects left to the bucket's lifecycle rule (%s): its key may not delete", d.DRC, im.Lifecycle))
			}
			if im.Warning != "" {
				notes = append(notes, "WARNING: "+im.Warning)
			}
		} else if h.Immutability != "" {
			immutable = h.Immutability
		}
		if h.LockError != "" {
			immutable += " (NO OBJECT LOCK)"
			notes = append(notes, h.LockError)
		}
		rows = append(rows, []string{d.DRC, d.Role, d.Kind, strings.ToUpper(d.Status), reach, free, orDash(h.Versioning),
			orDash(h.ObjectLock), immutable, lag, pending, dels})
		alarms = append(alarms, d.Alarms...)
	}
	table(g.stdout, []string{"DRC", "ROLE", "KIND", "STATUS", "REACHABLE", "FREE", "VERSIONING", "OBJECT LOCK", "IMMUTABLE", "LAG", "NOT YET THERE", "PENDING DELETIONS"}, rows)
	for _, n := range notes {
		fmt.Fprintln(g.stdout, "  "+n)
	}
	if len(alarms) > 0 {
		fmt.Fprintf(g.stdout, "\n%d ALARM(S):\n", len(alarms))
		for _, a := range alarms {
			fmt.Fprintf(g.stdout, "  #%d %s at drc %s, agency %s, seen %d time(s), last %s: %s\n", a.ID, a.Kind, a.DRC, a.Agency, a.Count,
				shortTime(a.Last), a.Message)
		}
	}
	return nil
}

// DRCSyncOptions are the flags of `cadang drc sync`.
type DRCSyncOptions struct {
	DRC    string
	Agency string
	Wait   bool
}

// AddFlags adds the options' flags to f.
func (o *DRCSyncOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.DRC, "drc", "", "the secondary `DRC` (default: every secondary)")
	f.StringVar(&o.Agency, "agency", "", "the `agency` (default: every agency)")
	f.BoolVar(&o.Wait, "wait", false, "wait for the passes to end")
}

func newDRCSyncCommand(g *globals) *cobra.Command {
	var opts DRCSyncOptions
	cmd := &cobra.Command{
		Use:   "sync [--drc NAME] [--agency ID] [--wait]",
		Short: "replicate to the secondaries now",
		Long: `Queue a replication pass of each agency (or of --agency ID) to each secondary DRC (or to
--drc NAME) now. Each backup and the background scan queue these passes anyway; this is
for when a secondary must be up to date at once. With --wait, the command waits for the
passes and exits 1 if any did not succeed.`,
		Example: `  cadang drc sync
  cadang drc sync --drc offsite --agency dinkes --wait`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDRCSync(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runDRCSync(ctx context.Context, g *globals, opts DRCSyncOptions) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	runs, err := c.Replicate(ctx, api.ReplicateRequest{DRC: opts.DRC, Agency: opts.Agency})
	if err != nil {
		return err
	}
	return queuedOrWaited(ctx, g, c, runs, opts.Wait, func(r api.RunInfo) string {
		return fmt.Sprintf("replicate agency %s to drc %s", r.Agency, r.DRC)
	}, "replication passes did not succeed")
}

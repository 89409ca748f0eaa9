package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/spf13/cobra"
)

const runbookLong = `Failover runbooks: plans of groups of steps (restores, commands, readiness checks,
manual gates, notices) declared under runbooks: in cadang.yaml or as files of
runbooks_dir (see docs/runbooks.md). "plan" shows what a run would do and use without
running anything; "run --mode test" restores under scratch names, runs the checks and
removes what it created; "run --mode real --confirm NAME" is the failover itself.
Every step's state is kept in the catalog as it changes: a run a stopped daemon left
continues when the daemon starts again. A critical step that fails halts the run:
fix the cause, then "continue" it, or "abort" it.`

func newRunbookCommand(g *globals) *cobra.Command {
	return newGroupCommand("runbook COMMAND", "failover runbooks: list, plan, run, status, approve, abort, continue", runbookLong,
		`  cadang runbook list
  cadang runbook plan portal-failover
  cadang runbook run portal-failover --mode test --wait
  cadang runbook approve 3 confirm
  cadang runbook run portal-failover --mode real --confirm portal-failover`,
		newRunbookListCommand(g), newRunbookPlanCommand(g), newRunbookRunCommand(g), newRunbookStatusCommand(g),
		newRunbookApproveCommand(g), newRunbookSimpleCommand(g, "abort", "abort a runbook run (test mode: what it created is removed)",
			`Abort runbook run RUN: the step running is cancelled, nothing more starts, and in test
mode the undo steps remove what the run created. A halted run is aborted the same way.`),
		newRunbookSimpleCommand(g, "continue", "continue a halted runbook run from the step that failed",
			`Continue runbook run RUN, halted by a critical step that failed: that step runs again
(fix its cause first), then the rest. Steps that ended ok do not run again.`))
}

func newRunbookListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "list the configured runbooks",
		Long: `List the runbooks the daemon runs: name, groups and steps, the declared RTO, and the
SHA-256 of the file each comes from (the report pins it).`,
		Example: "  cadang runbook list\n  cadang runbook list --json",
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.Runbooks(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, list)
			}
			if len(list) == 0 {
				fmt.Fprintln(g.stdout, "no runbook configured")
				return nil
			}
			rows := make([][]string, 0, len(list))
			for _, rb := range list {
				rows = append(rows, []string{rb.Name, fmt.Sprint(rb.Groups), fmt.Sprint(rb.Steps), orDash(rb.RTO), short(rb.Digest), rb.Description})
			}
			table(g.stdout, []string{"NAME", "GROUPS", "STEPS", "RTO", "SHA256", "DESCRIPTION"}, rows)
			return nil
		},
	}
}

func newRunbookPlanCommand(g *globals) *cobra.Command {
	var mode string
	cmd := &cobra.Command{
		Use:   "plan NAME [--mode test|real]",
		Short: "show what a runbook would do, without running anything",
		Long: `Show every step of runbook NAME as a run in --mode (test by default) would take it:
the group and its order, the snapshot and DRC a restore would use (the fallback order
when the runbook says any), its destination (a scratch name in test mode), and an ETA
from the target's last restore or drill. Nothing is run.`,
		Example: "  cadang runbook plan portal-failover\n  cadang runbook plan portal-failover --mode real --json",
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			plan, err := c.RunbookPlan(cmd.Context(), args[0], mode)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, plan)
			}
			rows := make([][]string, 0, len(plan.Steps))
			for _, s := range plan.Steps {
				what := s.What
				if s.Kind == "restore" {
					what = fmt.Sprintf("%s from %s, snapshot %s, to %s, ETA %s", s.Target, s.DRC, orDash(s.Snapshot), s.To, orDash(s.ETA))
				}
				if s.Error != "" {
					what += " (" + s.Error + ")"
				}
				if !s.Runs {
					what = "skipped in " + plan.Mode + " mode: " + what
				}
				rows = append(rows, []string{fmt.Sprint(s.No), s.Group, s.Step, s.Kind, what})
			}
			fmt.Fprintf(g.stdout, "runbook %s (%s mode), sha256 %s\n", plan.Runbook, plan.Mode, short(plan.Digest))
			table(g.stdout, []string{"NO", "GROUP", "STEP", "KIND", "WHAT"}, rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "test", "the mode to plan for: test or real")
	return cmd
}

// RunbookRunOptions are the flags of `cadang runbook run`.
type RunbookRunOptions struct {
	Mode    string
	Confirm string
	Wait    bool
}

func newRunbookRunCommand(g *globals) *cobra.Command {
	var opts RunbookRunOptions
	cmd := &cobra.Command{
		Use:   "run NAME --mode test|real [--confirm NAME] [--wait]",
		Short: "run a runbook: a test failover, or the real one",
		Long: `Start runbook NAME in the daemon. --mode test restores under scratch names (a folder
with -test-RUN, a database with _test_RUN), runs the checks, and removes what it
created at the end. --mode real is the failover itself and needs --confirm NAME.
The run goes on in the daemon; with --wait the command waits until it ends or
halts (a manual gate is confirmed meanwhile with "cadang runbook approve") and exits
0 if it succeeded, 1 otherwise. With --json it prints the run as an object with its id.`,
		Example: `  cadang runbook run portal-failover --mode test --wait
  cadang runbook run portal-failover --mode real --confirm portal-failover`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Mode != "test" && opts.Mode != "real" {
				return usageErrorf("--mode test or --mode real")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			run, err := c.StartRunbook(cmd.Context(), api.RunbookRunRequest{Runbook: args[0], Mode: opts.Mode, Confirm: opts.Confirm})
			if err != nil {
				return err
			}
			if !opts.Wait {
				if g.json {
					return printJSON(g.stdout, run)
				}
				fmt.Fprintf(g.stdout, "runbook run %d started (%s mode); follow with `cadang runbook status %d`\n", run.ID, run.Mode, run.ID)
				return nil
			}
			run, err = waitRunbook(cmd.Context(), g, c, run.ID)
			if err != nil {
				return err
			}
			return printRunbookRun(g, run)
		},
	}
	cmd.Flags().StringVar(&opts.Mode, "mode", "", "test or real (required)")
	cmd.Flags().StringVar(&opts.Confirm, "confirm", "", "the runbook's name again: required by --mode real")
	cmd.Flags().BoolVar(&opts.Wait, "wait", false, "wait until the run ends or halts; exit 0 if it succeeded")
	return cmd
}

func waitRunbook(ctx context.Context, g *globals, c *api.Client, id uint64) (api.RunbookRun, error) {
	told := map[string]bool{}
	for {
		run, err := c.RunbookRun(ctx, id)
		if err != nil {
			return run, err
		}
		if api.RunbookDone(run.Status) {
			return run, nil
		}
		for _, s := range run.Steps {
			if s.Status == "waiting" && !told[s.Step] && !g.json {
				told[s.Step] = true
				fmt.Fprintf(g.stderr, "run %d waits at %s: %s; confirm with `cadang runbook approve %d %s`\n", id, s.Step, s.Title, id, s.Step)
			}
		}
		select {
		case <-ctx.Done():
			return run, &exitError{exitDetached, fmt.Errorf("stopped waiting: runbook run %d goes on in the daemon; follow with `cadang runbook status %d`", id, id)}
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func printRunbookRun(g *globals, run api.RunbookRun) error {
	if g.json {
		if err := printJSON(g.stdout, run); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(g.stdout, "runbook run %d: %s %s mode, %s\n", run.ID, run.Runbook, run.Mode, run.Status)
		rows := make([][]string, 0, len(run.Steps))
		for _, s := range run.Steps {
			took := ""
			if !s.Started.IsZero() && !s.Ended.IsZero() {
				took = s.Ended.Sub(s.Started).Round(time.Millisecond).String()
			}
			detail := s.Summary
			if s.Error != "" {
				detail = s.Error
			}
			if s.Actor != "" {
				detail += " [" + s.Actor + "]"
			}
			rows = append(rows, []string{fmt.Sprint(s.No), s.Group, s.Step, s.Status, orDash(took), detail})
		}
		table(g.stdout, []string{"NO", "GROUP", "STEP", "STATUS", "TOOK", "DETAIL"}, rows)
	}
	switch run.Status {
	case "succeeded", "running", "waiting":
		return nil
	}
	return &exitError{1, fmt.Errorf("runbook run %d %s", run.ID, run.Status)}
}

func runbookRunID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, usageErrorf("%q is not a runbook run id", s)
	}
	return id, nil
}

func newRunbookStatusCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status RUN",
		Short: "show a runbook run and its steps",
		Long: `Show runbook run RUN: its status (running, waiting, succeeded, failed, halted,
aborted) and every step's state, times, attempts and who confirmed its gates. With
--json, one object with a status field. The exit status is 0 unless the run failed,
halted or was aborted.`,
		Example: "  cadang runbook status 3\n  cadang runbook status 3 --json",
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := runbookRunID(args[0])
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			run, err := c.RunbookRun(cmd.Context(), id)
			if err != nil {
				return err
			}
			return printRunbookRun(g, run)
		},
	}
}

func newRunbookApproveCommand(g *globals) *cobra.Command {
	var ticket string
	cmd := &cobra.Command{
		Use:   "approve RUN STEP [--ticket REF]",
		Short: "confirm a manual gate of a runbook run",
		Long: `Confirm the manual gate STEP (its name, or group/step) of runbook run RUN, which
waits for it. Only a principal with the gate's role may: another is refused, and the
refusal is recorded. The confirmer is the step's actor in the report; --ticket records
the service-desk reference with it.`,
		Example: "  cadang runbook approve 3 confirm --ticket ELAY-2026-0412",
		Args:    usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := runbookRunID(args[0])
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			run, err := c.RunbookAction(cmd.Context(), id, "approve", &api.RunbookApproveRequest{Step: args[1], Ticket: ticket})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, run)
			}
			fmt.Fprintf(g.stdout, "step %s of runbook run %d confirmed\n", args[1], id)
			return nil
		},
	}
	cmd.Flags().StringVar(&ticket, "ticket", "", "the ticket reference of the confirmation")
	return cmd
}

func newRunbookSimpleCommand(g *globals, action, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:     action + " RUN",
		Short:   short,
		Long:    long,
		Example: "  cadang runbook " + action + " 3",
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := runbookRunID(args[0])
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			run, err := c.RunbookAction(cmd.Context(), id, action, nil)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, run)
			}
			fmt.Fprintf(g.stdout, "runbook run %d: %s\n", id, run.Status)
			return nil
		},
	}
}

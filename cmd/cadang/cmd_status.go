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

// StatusOptions are the flags of `cadang status`.
type StatusOptions struct {
	Check bool
}

// AddFlags adds the options' flags to f.
func (o *StatusOptions) AddFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.Check, "check", false, "for monitoring: print each problem on a line, exit 1 if there is any")
}

func newStatusCommand(g *globals) *cobra.Command {
	var opts StatusOptions
	cmd := &cobra.Command{
		Use:   "status [--json | --check]",
		Short: "the daemon, its queue, the next runs and every target's state",
		Long: `Print the daemon's state: its version and uptime, the runs running and queued (and why
each one waits), the next runs, each target's last backup and newest and oldest good
snapshot, each secondary's replication lag, each repository's last check and prune, and,
with cluster: in the configuration, each agent's host, version, last heartbeat, state (up,
or down when silent for longer than cluster.heartbeat_timeout) and running runs.
With --check (for monitoring), one line per problem and exit 1 if there is any, one "ok"
line and exit 0 if there is none.`,
		Example: `  cadang status
  cadang status --check
  cadang --config /etc/cadang/cadang.yaml status --json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runStatus(ctx context.Context, g *globals, opts StatusOptions) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if opts.Check {
		problems, err := statusProblems(ctx, c, st)
		if err != nil {
			return err
		}
		return reportCheck(g, problems, fmt.Sprintf("%d targets, %d DRCs", st.Targets, len(st.DRCs)))
	}
	if g.json {
		return printJSON(g.stdout, st)
	}
	printStatus(g, st)
	return nil
}

func printStatus(g *globals, st *api.Status) {
	w, now, tz := g.stdout, st.Now, st.TimeZone
	fmt.Fprintf(w, "cadang %s, daemon pid %d, up %s (since %s), time zone %s\n", st.Version, st.PID,
		now.Sub(st.Started).Round(time.Second), zoneTime(st.Started, tz), tz)
	fmt.Fprintf(w, "%d targets, %d DRCs; %d running, %d queued\n", st.Targets, len(st.DRCs), len(st.Running), st.Queued)
	if b := st.Blackout; b != nil {
		fmt.Fprintf(w, "maintenance window %q open until %s: scheduled runs wait\n", b.Name, zoneTime(b.End, tz))
	}
	printSite(w, st.Site, tz)

	if len(st.Running) > 0 {
		fmt.Fprintln(w, "\nRUNNING")
		rows := [][]string{}
		for _, r := range st.Running {
			prog := "-"
			if p := r.Progress; p != nil {
				prog = joinNonEmpty(" ", p.Phase, fmt.Sprintf("%.0f%%", p.PercentDone*100))
			}
			rows = append(rows, []string{fmt.Sprint(r.ID), r.Op, orDash(r.Target), orDash(r.Agency), orDash(r.DRC), orDash(r.Reason), age(now, r.Started), prog})
		}
		table(w, []string{"RUN", "OP", "TARGET", "AGENCY", "DRC", "REASON", "STARTED", "PROGRESS"}, rows)
	}
	if len(st.Waiting) > 0 {
		fmt.Fprintln(w, "\nQUEUED")
		rows := [][]string{}
		for _, r := range st.Waiting {
			rows = append(rows, []string{fmt.Sprint(r.ID), r.Op, orDash(r.Target), orDash(r.Agency), orDash(r.DRC), orDash(r.Reason), age(now, r.Queued), orDash(r.Waiting)})
		}
		table(w, []string{"RUN", "OP", "TARGET", "AGENCY", "DRC", "REASON", "QUEUED", "WHY IT WAITS"}, rows)
		if st.Queued > len(st.Waiting) {
			fmt.Fprintf(w, "... and %d more\n", st.Queued-len(st.Waiting))
		}
	}
	if len(st.Next) > 0 {
		fmt.Fprintln(w, "\nNEXT RUNS")
		table(w, []string{"TIME", "IN", "OP", "TARGET", "DRC", "STATUS"}, plannedRows(st.Next, now, tz))
	}
	if len(st.TargetStatus) > 0 {
		fmt.Fprintln(w, "\nTARGETS")
		rows := [][]string{}
		for _, t := range st.TargetStatus {
			next, last, lastAge := "-", "-", "-"
			if t.NextRun != nil {
				next = zoneTime(*t.NextRun, tz)
			}
			if b := t.LastBackup; b != nil {
				last, lastAge = fmt.Sprintf("%s (run %d)", b.Status, b.ID), age(now, b.Time)
			}
			newest, oldest := "-", "-"
			if t.NewestGood != nil {
				newest = age(now, *t.NewestGood)
			}
			if t.OldestGood != nil {
				oldest = age(now, *t.OldestGood)
			}
			rows = append(rows, []string{t.Name, t.Agency, orDash(t.Schedule), next, last, lastAge, newest, oldest, fmt.Sprint(t.GoodSnapshots)})
		}
		table(w, []string{"TARGET", "AGENCY", "SCHEDULE", "NEXT RUN", "LAST BACKUP", "WHEN", "NEWEST GOOD", "OLDEST GOOD", "GOOD"}, rows)
	}
	if len(st.Replication) > 0 {
		fmt.Fprintln(w, "\nREPLICATION")
		rows := [][]string{}
		for _, r := range st.Replication {
			lag := r.Lag
			if r.MaxLag != "" {
				lag += " (max " + r.MaxLag + ")"
				if r.LagExceeded {
					lag += " EXCEEDED"
				}
			}
			rows = append(rows, []string{r.DRC, lag, fmt.Sprint(r.SnapshotsPending), orDash(r.OldestTarget), iec.UBytes(uint64(max(r.BytesPending, 0)))})
		}
		table(w, []string{"DRC", "LAG", "SNAPSHOTS PENDING", "OLDEST FROM", "BYTES PENDING"}, rows)
	}
	if len(st.Agents) > 0 {
		fmt.Fprintln(w, "\nAGENTS")
		table(w, []string{"AGENT", "POOL", "HOST", "VERSION", "LAST HEARTBEAT", "STATE", "RUNNING"}, agentRows(st.Agents, now))
	}
	if len(st.Repositories) > 0 {
		fmt.Fprintln(w, "\nREPOSITORIES")
		rows := [][]string{}
		for _, r := range st.Repositories {
			check, prune, next := "-", "-", "-"
			if c := r.LastCheck; c != nil {
				check = joinNonEmpty(" ", string(c.Status), c.Subset, age(now, c.Time))
				if c.Errors > 0 {
					check += fmt.Sprintf(", %d errors", c.Errors)
				}
			}
			if r.Parts > 0 {
				next = fmt.Sprintf("%d/%d", r.NextPart, r.Parts)
			}
			if p := r.LastPrune; p != nil {
				prune = joinNonEmpty(" ", string(p.Status), age(now, p.Time))
			}
			rows = append(rows, []string{r.DRC, r.Agency, check, next, prune})
		}
		table(w, []string{"DRC", "AGENCY", "LAST CHECK", "NEXT PART", "LAST PRUNE"}, rows)
	}
}

// agentRows are the agents of a status answer as table rows: RUNNING is how many runs
// of its capacity and their ids.
func agentRows(agents []api.AgentInfo, now time.Time) [][]string {
	rows := [][]string{}
	for _, a := range agents {
		state, seen := "down", "never"
		if a.Up {
			state = "up"
		}
		if a.LastHeartbeat != nil {
			seen = age(now, *a.LastHeartbeat)
		}
		running := fmt.Sprint(len(a.Running))
		if a.Capacity > 0 {
			running += fmt.Sprintf("/%d", a.Capacity)
		}
		if len(a.Running) > 0 {
			ids := make([]string, len(a.Running))
			for i, id := range a.Running {
				ids[i] = fmt.Sprint(id)
			}
			running += " (run " + strings.Join(ids, ", ") + ")"
		}
		rows = append(rows, []string{a.Name, orDash(a.Pool), orDash(a.Host), orDash(a.Version), seen, state, running})
	}
	return rows
}

// plannedRows are planned runs and windows as table rows.
func plannedRows(runs []api.PlannedRun, now time.Time, tz string) [][]string {
	rows := [][]string{}
	for _, p := range runs {
		status := p.Status
		switch {
		case p.Op == "blackout" && p.Until != nil:
			status = fmt.Sprintf("maintenance window %q until %s", p.Reason, zoneTime(*p.Until, tz))
		case p.Status == "held" && p.Until != nil:
			status = fmt.Sprintf("held by window %q until %s", p.Reason, zoneTime(*p.Until, tz))
		}
		rows = append(rows, []string{zoneTime(p.Time, tz), age(now, p.Time), p.Op, orDash(p.Target), orDash(p.DRC), status})
	}
	return rows
}

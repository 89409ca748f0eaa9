package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/spf13/cobra"
)

// printSite prints the site line of `cadang status`: what this cadang is among the
// sites, and how far behind a standby is.
func printSite(w io.Writer, s *api.SiteStatus, tz string) {
	if s == nil {
		return
	}
	switch s.Role {
	case "standby":
		sb := s.Standby
		if sb == nil || sb.Bundle == "" {
			fmt.Fprintf(w, "site %s: standby, no state bundle applied yet from drc %s", s.Name, sbSource(sb))
		} else {
			fmt.Fprintf(w, "site %s: standby of %s, state as of %s, lag %s (drc %s)", s.Name, sb.Of, zoneTime(sb.StateAsOf, tz), sb.Lag, sb.SourceDRC)
		}
		if sb != nil && sb.Error != "" {
			fmt.Fprintf(w, "; last look failed: %s", sb.Error)
		}
		fmt.Fprintln(w)
	case "read-only":
		fmt.Fprintf(w, "site %s: READ-ONLY: %s\n", s.Name, s.Why)
	default:
		if l := s.Lease; l != nil && l.Kind == "takeover" {
			fmt.Fprintf(w, "site %s: primary since the takeover of site %s at %s (lease epoch %d)\n", s.Name, l.Previous, zoneTime(l.Since, tz), l.Epoch)
		}
	}
	for _, d := range s.Down {
		fmt.Fprintf(w, "drc %s is marked down by the takeover: backups go to the other DRC until `cadang handback`\n", d)
	}
}

func sbSource(sb *api.StandbyStatus) string {
	if sb == nil {
		return "-"
	}
	return sb.SourceDRC
}

func printSiteChange(g *globals, st api.SiteStatus) error {
	if g.json {
		return printJSON(g.stdout, st)
	}
	for _, n := range st.Notes {
		fmt.Fprintln(g.stdout, n)
	}
	fmt.Fprintf(g.stdout, "site %s is now %s\n", st.Name, st.Role)
	return nil
}

func newTakeoverCommand(g *globals) *cobra.Command {
	var confirm string
	cmd := &cobra.Command{
		Use:   "takeover --confirm SITE",
		Short: "promote this standby to the primary when the main site is lost",
		Long: `Promote the standby cadang this command talks to (daemon.standby, at the DR site) to
the primary, when the main site is lost. It applies the newest state bundle it can
read, writes a takeover lease into every DRC that answers (so that the main site's
cadang, if it comes back, starts read-only instead of acting too), marks the main
site's DRCs down (backups go to the DR site's DRC, and come back to the others with
replication), marks the runs the main site left unfinished as interrupted, and starts
the schedules. --confirm must name the site taken over, as "cadang status" shows it
("standby of SITE"). The takeover is recorded in the audit log. Undo it with
"cadang handback" once the main site is back (docs/site-loss.md).`,
		Example: `  cadang status                  # site dr: standby of main, state as of ..., lag 40s
  cadang takeover --confirm main`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if confirm == "" {
				return usageErrorf("give --confirm with the name of the site taken over")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.Takeover(cmd.Context(), api.TakeoverRequest{Confirm: confirm})
			if err != nil {
				return err
			}
			return printSiteChange(g, st)
		},
	}
	cmd.Flags().StringVar(&confirm, "confirm", "", "the name of the site taken over")
	return cmd
}

func newHandbackCommand(g *globals) *cobra.Command {
	var confirm, identity string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "handback (--confirm SITE | --identity FILE)",
		Short: "return the primary role to the site taken over, once it is back",
		Long: `Return the primary role to the site that was taken over, in two steps.

At the site that took over (its cadang is the primary): "cadang handback --confirm
SITE" stops its schedules, waits for its runs, brings both DRCs together (replication
passes: the snapshots made during the takeover go to the main site's DRC, under the
ids they have), writes a last state bundle and a lease naming SITE with that bundle,
and goes back to being a standby. Every DRC must answer.

At the main site (its cadang started read-only because of the lease): "cadang handback
--identity FILE" applies that bundle (the catalog with every snapshot and run of the
takeover, and the keys) with an escrow identity (or daemon.standby.identity_file), and
resumes as the primary. The identity is sent to the daemon over its socket only, never
written. Both steps are recorded in the audit log (docs/site-loss.md).`,
		Example: `  # at the DR site
  cadang handback --confirm main
  # then at the main site
  cadang handback --identity /media/usb/kepala.agekey`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (confirm == "") == (identity == "") {
				return usageErrorf("give --confirm SITE (at the site that took over) or --identity FILE (at the site taken over)")
			}
			req := api.HandbackRequest{Confirm: confirm}
			if identity != "" {
				b, err := os.ReadFile(identity)
				if err != nil {
					return fmt.Errorf("--identity: %v", err)
				}
				req.Identity = string(b)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel func()
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			st, err := c.Handback(ctx, req)
			if err != nil {
				return err
			}
			return printSiteChange(g, st)
		},
	}
	cmd.Flags().StringVar(&confirm, "confirm", "", "at the site that took over: the name of the site the role goes back to")
	cmd.Flags().StringVar(&identity, "identity", "", "at the site taken over: an escrow identity file that opens the bundle handed back")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: wait until done)")
	return cmd
}

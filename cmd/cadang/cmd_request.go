package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/cadang/cadang/engine/api"
	"github.com/spf13/cobra"
)

const requestLong = `The agencies' restore and export requests. An agency (through the E-Layanan portal,
or with its own token on the network API) does not restore: it asks. Its request
names a pinned snapshot and a destination its target's api.restore_destinations
allow, and waits, pending, for every approver its agency's policy names (agencies[].approval:
its agency-admin and an operator by default). The requester never approves its own
request. Once every approver has approved, the restore is queued and the request
names its run; a rejection (with a comment) ends it, and a request nobody decided
within 7 days expires.

On the unix socket the operator approves or rejects as an operator; agency admins do
it with their own tokens on the network API.`

func newRequestCommand(g *globals) *cobra.Command {
	return newGroupCommand("request COMMAND", "agencies' restore requests: list, show, approve, reject", requestLong,
		`  cadang request list --status pending
  cadang request show 12
  cadang request approve 12 --comment "tiket 2026/ELY/0412 diverifikasi"
  cadang request reject 13 --comment "tujuan bukan milik instansi"`,
		newRequestListCommand(g), newRequestShowCommand(g), newRequestDecideCommand(g, true), newRequestDecideCommand(g, false))
}

func newRequestListCommand(g *globals) *cobra.Command {
	var agency, status string
	cmd := &cobra.Command{
		Use:   "list [--agency ID] [--status S]",
		Short: "list the requests, newest first",
		Long: `List the agencies' requests, newest first: who asked, for what, its status (pending,
approved, rejected, expired, failed), who it still waits for, and its run.`,
		Example: `  cadang request list
  cadang request list --status pending --agency dinkes --json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.Requests(cmd.Context(), agency, status)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, list)
			}
			if len(list) == 0 {
				fmt.Fprintln(g.stdout, "no request")
				return nil
			}
			rows := make([][]string, 0, len(list))
			for _, r := range list {
				rows = append(rows, []string{strconv.FormatUint(r.ID, 10), r.Kind, r.Agency, r.Target, shortID(r.Snapshot), orDash(r.To),
					r.Requester, shortTime(r.Created), requestState(r)})
			}
			table(g.stdout, []string{"ID", "KIND", "AGENCY", "TARGET", "SNAPSHOT", "TO", "REQUESTER", "CREATED", "STATUS"}, rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&agency, "agency", "", "only the requests of agency `ID`")
	cmd.Flags().StringVar(&status, "status", "", "only requests in status `S` (pending, approved, rejected, expired, failed)")
	return cmd
}

// requestState is a request's status, with what it waits for or its run.
func requestState(r api.Request) string {
	switch {
	case r.Status == "pending":
		return "pending (waits for " + strings.Join(r.Waiting, " and ") + ")"
	case r.Run != 0:
		return fmt.Sprintf("%s (run %d: %s)", r.Status, r.Run, orDash(r.RunState))
	}
	return r.Status
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func newRequestShowCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "show one request: what is asked, its decisions, its run",
		Long: `Show one request: the target, the pinned snapshot and its DRC, the destination and
options, who asked (and the E-Layanan ticket), who must approve, every decision with
its comment, its status and, once approved, its run.`,
		Example: `  cadang request show 12`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := requestID(args[0])
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			r, err := c.Request(cmd.Context(), id)
			if err != nil {
				return err
			}
			return printRequest(g, r)
		},
	}
}

func requestID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, usageErrorf("request %q: give the request's number", s)
	}
	return id, nil
}

func printRequest(g *globals, r api.Request) error {
	if g.json {
		return printJSON(g.stdout, r)
	}
	w := g.stdout
	fmt.Fprintf(w, "request %d: %s of %s (agency %s)\n", r.ID, r.Kind, r.Target, r.Agency)
	fmt.Fprintf(w, "  snapshot   %s at drc %s\n", r.Snapshot, r.DRC)
	if r.To != "" {
		fmt.Fprintf(w, "  to         %s", r.To)
		if r.Force {
			fmt.Fprint(w, " (force: over existing data)")
		}
		fmt.Fprintln(w)
	}
	if len(r.Include) > 0 {
		fmt.Fprintf(w, "  include    %s\n", strings.Join(r.Include, ", "))
	}
	for k, v := range r.Options {
		fmt.Fprintf(w, "  option     %s=%s\n", k, v)
	}
	fmt.Fprintf(w, "  requester  %s (%s), %s", r.Requester, r.RequesterRole, shortTime(r.Created))
	if r.Ticket != "" {
		fmt.Fprintf(w, ", ticket %s", r.Ticket)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  approvers  %s\n", strings.Join(r.Approvers, " and "))
	for _, d := range r.Decisions {
		verdict := "rejected"
		if d.Approve {
			verdict = "approved"
		}
		fmt.Fprintf(w, "  %-10s %s (%s), %s", verdict, d.By, d.Role, shortTime(d.Time))
		if d.Comment != "" {
			fmt.Fprintf(w, ": %s", d.Comment)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  status     %s\n", requestState(r))
	if r.Status == "pending" {
		fmt.Fprintf(w, "  expires    %s\n", shortTime(r.Expires))
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error      %s\n", r.Error)
	}
	return nil
}

func newRequestDecideCommand(g *globals, approve bool) *cobra.Command {
	var comment string
	verb, short, example := "reject", "reject a request (a comment says why): it never runs", `  cadang request reject 13 --comment "tujuan bukan milik instansi"`
	if approve {
		verb, short, example = "approve", "approve a request as an operator: it runs once every approver approved", `  cadang request approve 12 --comment "tiket diverifikasi"`
	}
	long := `Reject a pending request: it never runs. An approver it waits for may reject it, and
its requester may withdraw it; the comment (required) says why and is kept.`
	if approve {
		long = `Approve a pending request as an operator (the unix socket's peer is one). The
approval counts when the request waits for an operator; once every approver it names
has approved, the restore is queued and the request names its run (cadang runs,
cadang request show).`
	}
	cmd := &cobra.Command{
		Use:     verb + " ID [--comment TEXT]",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := requestID(args[0])
			if err != nil {
				return err
			}
			if !approve && strings.TrimSpace(comment) == "" {
				return usageErrorf("a rejection needs --comment saying why")
			}
			return runDecide(cmd.Context(), g, id, approve, comment)
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why (kept with the decision; needed to reject)")
	return cmd
}

func runDecide(ctx context.Context, g *globals, id uint64, approve bool, comment string) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	r, err := c.Decide(ctx, id, approve, comment)
	if err != nil {
		return err
	}
	return printRequest(g, r)
}

package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const tokenLong = `Manage the API tokens: the bearer secrets ("Authorization: Bearer cdg_...") with which
principals other than the operator at this host (auditors, agencies, the E-Layanan
portal) will call the daemon's network API. The unix socket needs no token: its peer
is the operator.

A token has a name (never reused, even once revoked: the audit log names principals
by it), a role and, for the agency-* roles, an agency. The roles: operator
(everything); auditor (reads everything, reports and the audit log included, never
data); agency-admin (its agency's everything, approvals included), agency-requester
(its agency's backups and restore requests) and agency-viewer (reads its agency's
records); portal (a service acting for the agency each request names).

Its secret is printed once, when it is created: only its SHA-256 is kept. A token
expires (90 days by default, two years at most); a revoked or expired token is
refused at once.`

func newTokenCommand(g *globals) *cobra.Command {
	return newGroupCommand("token COMMAND", "API tokens: create (the secret shown once), list, revoke", tokenLong,
		`  cadang token create --name dinkes-admin --role agency-admin --agency dinkes
  cadang token create --name elayanan --role portal --expires 365d --json
  cadang token list
  cadang token revoke dinkes-admin`,
		newTokenCreateCommand(g), newTokenListCommand(g), newTokenRevokeCommand(g))
}

// TokenCreateOptions are the flags of `cadang token create`.
type TokenCreateOptions struct {
	Name    string
	Role    string
	Agency  string
	Expires string
}

// AddFlags adds the options' flags to f.
func (o *TokenCreateOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Name, "name", "", "the token's `NAME` (1 to 64 of a-z, 0-9, '.', '_', '-'; never reused)")
	f.StringVar(&o.Role, "role", "", "its `ROLE`: "+strings.Join(tokenRoles, ", "))
	f.StringVar(&o.Agency, "agency", "", "the agency `ID` it acts for (agency-* roles only)")
	f.StringVar(&o.Expires, "expires", "90d", "valid for `D` from now (12h, 90d; at most 730d)")
}

var tokenRoles = []string{api.RoleOperator, api.RoleAuditor, api.RoleAgencyAdmin, api.RoleAgencyRequester, api.RoleAgencyViewer, api.RolePortal}

func newTokenCreateCommand(g *globals) *cobra.Command {
	var opts TokenCreateOptions
	cmd := &cobra.Command{
		Use:   "create --name N --role R [--agency ID] [--expires D]",
		Short: "create an API token and print its secret, once",
		Long: `Create an API token and print its secret. The secret is printed this once and cannot
be shown again: only its SHA-256 is kept. Give it to its holder over a safe channel;
a lost secret is replaced by a new token (and the old one revoked).

With --json, an object whose "token" field is the secret.`,
		Example: `  cadang token create --name dinkes-admin --role agency-admin --agency dinkes
  cadang token create --name bpk-audit --role auditor --expires 30d
  cadang token create --name elayanan --role portal --json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTokenCreate(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runTokenCreate(ctx context.Context, g *globals, opts TokenCreateOptions) error {
	if opts.Name == "" || opts.Role == "" {
		return usageErrorf("give the token's --name and --role")
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	t, err := c.CreateToken(ctx, api.TokenRequest{Name: opts.Name, Role: opts.Role, Agency: opts.Agency, Expires: opts.Expires})
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, t)
	}
	who := t.Role
	if t.Agency != "" {
		who += " of " + t.Agency
	}
	fmt.Fprintf(g.stdout, "token %s (%s), valid until %s:\n\n  %s\n\n", t.Name, who, shortTime(t.Expires), t.Token)
	fmt.Fprintln(g.stderr, "This secret is shown once and cannot be shown again: only its hash is kept. Hand it over safely.")
	return nil
}

func newTokenListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "list the API tokens (never their secrets)",
		Long: `List the API tokens by name, revoked and expired ones too: role, agency, when created,
when they expire, when last used (recorded at most once a minute) and their status
(active, revoked or expired). Secrets are never shown: they are not kept.`,
		Example: `  cadang token list
  cadang token list --json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTokenList(cmd.Context(), g)
		},
	}
}

func runTokenList(ctx context.Context, g *globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	list, err := c.Tokens(ctx)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(g.stdout, "no API token (cadang token create)")
		return nil
	}
	rows := make([][]string, 0, len(list))
	for _, t := range list {
		status := t.Status
		if status == "revoked" {
			status += " " + shortDate(t.Revoked)
		}
		rows = append(rows, []string{t.Name, t.Role, orDash(t.Agency), shortTime(t.Created), shortTime(t.Expires), shortTime(t.LastUsed), status})
	}
	table(g.stdout, []string{"NAME", "ROLE", "AGENCY", "CREATED", "EXPIRES", "LAST USED", "STATUS"}, rows)
	return nil
}

// shortDate is t's date in the daemon's zone.
func shortDate(t time.Time) string {
	return t.In(displayZone).Format("2006-01-02")
}

func newTokenRevokeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "revoke an API token: refused at once from now on",
		Long: `Revoke the API token named NAME: its secret is refused from now on. A revoked token
stays listed, and its name is never given to another token.`,
		Example: `  cadang token revoke dinkes-admin`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			t, err := c.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, t)
			}
			fmt.Fprintf(g.stdout, "token %s revoked\n", t.Name)
			return nil
		},
	}
}

package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cadang/cadang/engine"
	"github.com/cadang/cadang/engine/api"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// AuditOptions are the flags of `cadang audit`.
type AuditOptions struct {
	Agency string
	Since  string
	Limit  int
}

// AddFlags adds the options' flags to f.
func (o *AuditOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Agency, "agency", "", "only the entries of this agency `ID`")
	f.StringVar(&o.Since, "since", "", "only entries at or after `T`: a time (RFC 3339), a date (YYYY-MM-DD, in the daemon's zone) or an age (36h, 7d)")
	f.IntVar(&o.Limit, "limit", 50, "at most `N` entries, newest first (0: all)")
}

const auditLong = `List the audit log, newest first: every call to the daemon's API that changes
something (backups, restores, cancels, reloads, maintenance, ...), refused or not, and
every read of backed-up data (cadang ls), with who made it (the user id of the process
at the other end of the socket), their role, the agency whose object it was, the
action (the API route), its object (a target, a run), the answer (HTTP status and
outcome), the time and where the call came from.

Each entry is chained to the one before it by SHA-256: "cadang audit verify" proves
that no entry was edited, removed or reordered since it was written. There is no
command or API to change or delete an entry.`

func newAuditCommand(g *globals) *cobra.Command {
	var opts AuditOptions
	cmd := &cobra.Command{
		Use:   "audit [--agency ID] [--since T] [--limit N]",
		Short: "the audit log: who called the daemon's API, what for, and the answer",
		Long:  auditLong,
		Example: `  cadang audit
  cadang audit --agency dinkes --since 7d
  cadang audit --since 2026-12-01 --limit 0 --json
  cadang audit verify`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAudit(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	cmd.AddCommand(newAuditVerifyCommand(g))
	return cmd
}

// auditSince turns --since into what the API takes: an age becomes a time; a time or
// a date is passed on (the daemon reads a date in its zone).
func auditSince(s string, now time.Time) (string, error) {
	if s == "" {
		return "", nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= 0 {
			return now.AddDate(0, 0, -days).Format(time.RFC3339Nano), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).Format(time.RFC3339Nano), nil
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return s, nil
	}
	if _, err := time.Parse("2006-01-02", s); err == nil {
		return s, nil
	}
	return "", usageErrorf("--since %q: give a time (RFC 3339), a date (YYYY-MM-DD) or an age (36h, 7d)", s)
}

func runAudit(ctx context.Context, g *globals, opts AuditOptions) error {
	if opts.Limit < 0 {
		return usageErrorf("--limit %d: give 0 (all) or more", opts.Limit)
	}
	since, err := auditSince(opts.Since, time.Now())
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	list, err := c.Audit(ctx, opts.Agency, since, opts.Limit)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(g.stdout, "no audit entry")
		return nil
	}
	rows := make([][]string, 0, len(list))
	for _, e := range list {
		result := strconv.Itoa(e.Status) + " " + e.Result
		obj := orDash(e.Object)
		if e.Agency != "" {
			obj += " (" + e.Agency + ")"
		}
		rows = append(rows, []string{strconv.FormatUint(e.Seq, 10), shortTime(e.Time), e.Principal, orDash(e.Role), e.Action, obj, result})
	}
	table(g.stdout, []string{"SEQ", "TIME", "PRINCIPAL", "ROLE", "ACTION", "OBJECT", "RESULT"}, rows)
	return nil
}

// AuditVerifyOptions are the flags of `cadang audit verify`.
type AuditVerifyOptions struct {
	Catalog string
}

// AddFlags adds the options' flags to f.
func (o *AuditVerifyOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Catalog, "catalog", "", "verify this catalog `FILE` (a copy, or a stopped daemon's) read-only, without a daemon")
}

func newAuditVerifyCommand(g *globals) *cobra.Command {
	var opts AuditVerifyOptions
	cmd := &cobra.Command{
		Use:   "verify [--catalog FILE]",
		Short: "prove that the audit log's chain is intact",
		Long: `Check every entry of the audit log, oldest first: its SHA-256 must match its contents and
name the entry before it. Exit 0 when the whole chain is intact (it prints how many
entries it checked, and the last one's hash: kept elsewhere, that hash lets a later
check prove the log was not cut and rewritten since); exit 1 with the first entry that
was edited, removed or moved.

With --catalog FILE, a catalog file is checked without a daemon, opened read-only: a
copy (cp state_dir/catalog.db) or the catalog of a daemon that is not running.`,
		Example: `  cadang audit verify
  cadang audit verify --catalog /backup/catalog-copy.db`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAuditVerify(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runAuditVerify(ctx context.Context, g *globals, opts AuditVerifyOptions) error {
	var v api.AuditVerification
	var err error
	if opts.Catalog != "" {
		v, err = engine.AuditVerification(opts.Catalog)
	} else {
		var c *api.Client
		if c, err = g.client(); err != nil {
			return err
		}
		v, err = c.AuditVerify(ctx)
	}
	if err != nil {
		return err
	}
	if g.json {
		if err := printJSON(g.stdout, v); err != nil {
			return err
		}
	}
	if !v.Intact {
		return &exitError{exitFailed, fmt.Errorf("audit log broken at entry %d: %s (%d entries before it are intact)", v.BrokenSeq, v.Why, v.Checked)}
	}
	if !g.json {
		fmt.Fprintf(g.stdout, "audit log intact: %d entries\n", v.Checked)
		if v.HeadSeq > 0 {
			fmt.Fprintf(g.stdout, "last entry: %d, sha256 %s\n", v.HeadSeq, v.Head)
		}
	}
	return nil
}

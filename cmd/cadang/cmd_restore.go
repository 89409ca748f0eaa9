package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/iec"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// RestoreOptions are the flags of `cadang restore`.
type RestoreOptions struct {
	Snapshot string
	DRC      string
	To       string
	Force    bool
	Define   string
	Include  []string
	Options  []string
	ToTime   string
	ToLSN    string
}

// AddFlags adds the options' flags to f.
func (o *RestoreOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Snapshot, "snapshot", "latest", "snapshot `ID` (or a unique prefix), or latest: the newest good one")
	f.StringVar(&o.DRC, "drc", "", "the DRC to restore from (default: the primary)")
	f.StringVar(&o.To, "to", "", "destination: a directory, a file, or a URL the target's kind understands")
	f.BoolVar(&o.Force, "force", false, "allow a destination that already holds data")
	f.StringVar(&o.Define, "define", "", "libvirt: also define a domain named `NAME` on the restored disks")
	f.StringArrayVar(&o.Include, "include", nil, "files: restore only this `PATH` of the snapshot (and what is below it); repeatable (see cadang ls)")
	f.StringVar(&o.ToTime, "to-time", "", "mode: continuous: recover to this `TIME` (\"2026-12-01 10:42:00+07\" or RFC 3339): postgres into the new data directory DEST, mysql into the new database DEST (a data directory with method: physical)")
	f.StringVar(&o.ToLSN, "to-lsn", "", "postgres, mode: continuous: recover to this `LSN` (e.g. 0/3000060)")
	f.StringArrayVar(&o.Options, "option", nil, "a restore option of the target's kind, `KEY=VALUE` (postgres: no_owner=true, role=NAME; mysql: definer=drop); repeatable")
}

func newRestoreCommand(g *globals) *cobra.Command {
	var opts RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore TARGET [--snapshot ID|latest] [--drc NAME] --to DEST [--force] [--include PATH]... [--option KEY=VALUE]... [--to-time TIME|--to-lsn LSN]",
		Short: "restore a snapshot and wait for it",
		Long: `Restore a snapshot of TARGET to DEST and wait for it (Ctrl-C stops waiting, exit 4: the
restore goes on in the daemon). latest, the default, is the newest good snapshot. Without
--drc the restore comes from the primary, or from a secondary when the primary does not
answer. DEST is a directory or a file for files, or a URL the target's kind understands
(postgres:///NEWDB, for example); a DEST that already holds data needs --force.

A postgres target in mode: continuous restores to a point in time (docs/continuous.md):
DEST is a new data directory; the newest base backup taken before --to-time (or the
newest, for --to-lsn or neither: the end of the archived WAL) is restored there, the
WAL stored since then into DEST.wal, and PostgreSQL recovers and promotes on a free
port, then stops; the run's log says how to start it.

A mysql target in mode: continuous restores to a point in time into a new database
(DEST is mysql://host:port/NEWDB; one that exists is refused): the newest dump taken
before --to-time is loaded, then the archived binary log replayed from the dump's
position up to that second (or to its end without --to-time). With method: physical
the whole server comes back: DEST is a new data directory, the newest physical backup
taken before --to-time is prepared there and the binary log replayed into it by a
scratch server of cadang's, then stopped; the run's log says how to start it.`,
		Example: `  cadang restore portal-files --to /srv/restore/portal
  cadang restore portal-files --snapshot 3f2a9c1d --drc offsite --to /srv/restore/portal --force
  cadang restore portal-files --include /srv/portal/uploads --to /srv/restore/uploads
  cadang restore simpus-db --to postgres:///simpus_copy --option no_owner=true
  cadang restore simpus-pitr --to-time "2026-12-01 10:42:00+07" --to /srv/pg/simpus-1042
  cadang restore arsip-db --to-time "2026-12-01 10:42:00+07" --to mysql://127.0.0.1:3306/arsip_1042
  cadang restore mariadb-server --to-time "2026-12-01 10:42:00+07" --to /srv/mysql/data-1042`,
		Args: usageArgs(func(_ *cobra.Command, args []string) error {
			if len(args) != 1 || opts.To == "" {
				return errors.New("give a target and --to")
			}
			return nil
		}),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRestore(cmd.Context(), g, opts, args[0])
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runRestore(ctx context.Context, g *globals, opts RestoreOptions, target string) error {
	dest := opts.To
	if !strings.Contains(dest, "://") {
		// The daemon resolves nothing relative to its own working directory.
		var err error
		if dest, err = filepath.Abs(dest); err != nil {
			return err
		}
	}
	req := api.RestoreRequest{Target: target, Snapshot: opts.Snapshot, DRC: opts.DRC, To: dest, Force: opts.Force, Include: opts.Include}
	for _, kv := range opts.Options {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErrorf("--option %q: want KEY=VALUE", kv)
		}
		if req.Options == nil {
			req.Options = map[string]string{}
		}
		req.Options[k] = v
	}
	for k, v := range map[string]string{"to_time": opts.ToTime, "to_lsn": opts.ToLSN} {
		if v == "" {
			continue
		}
		if req.Options == nil {
			req.Options = map[string]string{}
		}
		req.Options[k] = v
	}
	if opts.Define != "" {
		if req.Options == nil {
			req.Options = map[string]string{}
		}
		req.Options["define"] = opts.Define
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	ri, err := c.Restore(ctx, req)
	if err != nil {
		return err
	}
	pp := newProgressPrinter(g.stdout, g.json)
	final, err := waitRun(ctx, c, ri.ID, pp.update)
	pp.done()
	if err != nil {
		return err
	}
	if g.json {
		if err := printJSON(g.stdout, final); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(g.stdout, "run %d %s: restore of %s snapshot %s from drc %s to %s, %s in %s\n", final.ID, final.Status,
			final.Target, orDash(short(final.SnapshotID)), final.DRC, final.Destination, iec.UBytes(final.BytesProcessed), took(final.Run))
		for _, n := range final.Notes {
			fmt.Fprintf(g.stdout, "  note: %s\n", n)
		}
	}
	return exitFor(final)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cadang/cadang/engine"
)

// StateRebuildOptions are the flags of `cadang state rebuild`.
type StateRebuildOptions struct {
	FromDRC string
	Keys    string
	Force   bool
}

// AddFlags adds the options' flags to f.
func (o *StateRebuildOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.FromDRC, "from-drc", "", "read the repositories at the DRC `NAME`")
	f.StringVar(&o.Keys, "keys", "", "the saved keys, in `DIR`/<drc>/<agency>.key (the layout of state_dir/keys)")
	f.BoolVar(&o.Force, "force", false, "move an existing catalog aside (never deleted) instead of refusing")
}

func newStateRebuildCommand(g *globals) *cobra.Command {
	var opts StateRebuildOptions
	cmd := &cobra.Command{
		Use:   "rebuild --from-drc NAME --keys DIR [--force]",
		Short: "rebuild a lost state dir from the agencies' keys and the snapshots at a DRC",
		Long: `Rebuild the state dir when the site and its state dir are lost and no state bundle
exists: the last resort. With the agencies' repository keys alone (DIR laid out as
state_dir/keys: DIR/<drc>/<agency>.key), it

  - copies the keys of the configuration's DRCs found in DIR into state_dir/keys
    (files 0600, folders 0700); an agency without a key for the DRC asked is reported
    and the others go on;
  - reads every agency's repository at the DRC (restic snapshots) and records each
    snapshot cadang wrote in a new catalog, with the target, agency, kind, run and
    status (good, partial, bad) its tags carry, so that a daemon started on the state
    dir restores the same "latest" as the lost site did. Snapshots without cadang's
    tags are skipped and counted.

Runs, schedules, the replication ledger, the audit log and tokens are not in the
repositories and are not rebuilt; a run started afterwards is numbered after the
highest run the tags name.

A state dir that holds a catalog is refused; with --force the old catalog is moved
aside (catalog.db.before-rebuild-<time>), never deleted. Stop the daemon first.

Exit status 0 when the repository of every agency that had a key was read, 1
otherwise; 2 for an unknown DRC or a state dir that holds a catalog. Keys and
passwords are never printed.`,
		Example: `  cadang state rebuild --from-drc dc2 --keys /media/usb/cadang-keys
  cadang state rebuild --from-drc dc2 --keys /media/usb/cadang-keys --force --json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStateRebuild(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runStateRebuild(ctx context.Context, g *globals, opts StateRebuildOptions) error {
	if opts.FromDRC == "" || opts.Keys == "" {
		return usageErrorf("give the DRC to read and the folder of the keys: --from-drc NAME --keys DIR")
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := engine.Rebuild(ctx, cfg, engine.RebuildOptions{FromDRC: opts.FromDRC, KeysDir: opts.Keys, Force: opts.Force}, log)
	if errors.Is(err, engine.ErrRebuildRefused) {
		return &exitError{exitUsage, err}
	}
	if err != nil {
		return err
	}
	if g.json {
		if err := printJSON(g.stdout, res); err != nil {
			return err
		}
	} else {
		if res.MovedAside != "" {
			fmt.Fprintf(g.stdout, "old catalog moved aside to %s\n", res.MovedAside)
		}
		fmt.Fprintf(g.stdout, "new catalog %s from drc %q; %d keys copied into %s/keys\n", res.Catalog, res.DRC, res.KeysCopied, res.StateDir)
		rows := make([][]string, 0, len(res.Agencies))
		for _, a := range res.Agencies {
			result := "read"
			if a.Error != "" {
				result = a.Error
			}
			n := func(v int) string {
				if !a.Read {
					return "-"
				}
				return strconv.Itoa(v)
			}
			rows = append(rows, []string{a.Agency, n(a.Found), n(a.Good), n(a.Partial), n(a.Bad), n(a.Skipped), result})
		}
		table(g.stdout, []string{"AGENCY", "FOUND", "GOOD", "PARTIAL", "BAD", "SKIPPED", "RESULT"}, rows)
	}
	failed := 0
	for _, a := range res.Agencies {
		if a.Key && !a.Read {
			failed++
		}
	}
	if failed > 0 {
		what := fmt.Sprintf("the repositories of %d agencies", failed)
		if failed == 1 {
			what = "the repository of 1 agency"
		}
		return &exitError{exitFailed, fmt.Errorf("%s at drc %q could not be read (see above); the new catalog holds the others' snapshots", what, res.DRC)}
	}
	return nil
}

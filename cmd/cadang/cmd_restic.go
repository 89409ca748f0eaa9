package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cadang/cadang/engine/api"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ResticOptions are the flags of `cadang restic`.
type ResticOptions struct {
	DRC string
}

// AddFlags adds the options' flags to f.
func (o *ResticOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.DRC, "drc", "", "the `DRC` whose repository restic works on (default: the primary)")
}

func newResticCommand(g *globals) *cobra.Command {
	var opts ResticOptions
	cmd := &cobra.Command{
		Use:   "restic AGENCY [--drc NAME] -- COMMAND [ARGS...]",
		Short: "run a restic command by hand on an agency's repository (recorded, operator only)",
		Long: `Run restic COMMAND on AGENCY's repository at the primary (or at --drc NAME), with the
repository's environment (its password through a file, never the command line), for the
rare hand operation cadang has no verb for. The daemon runs it as a recorded run: who
asked, the arguments, restic's output and exit code stay in the run (cadang runs). It
waits in the queue for the runs that use the repository, and they wait for it.

Allowed: snapshots, ls, find, stats, check, diff, version, list (blobs, packs, index,
snapshots, keys, locks), cat (config, index, snapshot, lock), key list, repair (index,
snapshots, packs), unlock. Refused: what reads the agency's data (restore, dump, mount),
reads or changes a key, or changes snapshots cadang records (forget, prune, tag, ...),
and flags that name another repository or password.`,
		Example: `  cadang restic dinkes -- snapshots
  cadang restic dinkes --drc offsite -- check --read-data-subset 5%
  cadang restic dinkes -- list locks`,
		Args: usageArgs(func(c *cobra.Command, args []string) error {
			if c.ArgsLenAtDash() != 1 || len(args) < 2 {
				return errors.New("give AGENCY, then -- and the restic command")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRestic(cmd.Context(), g, opts, args[0], args[1:])
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runRestic(ctx context.Context, g *globals, opts ResticOptions, agency string, args []string) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	ri, err := c.Restic(ctx, api.ResticRequest{Agency: agency, DRC: opts.DRC, Args: args})
	if err != nil {
		return err
	}
	final, err := waitRun(ctx, c, ri.ID, nil)
	if err != nil {
		return err
	}
	if g.json {
		if err := printJSON(g.stdout, final); err != nil {
			return err
		}
		return exitFor(final)
	}
	var out api.ResticOutput
	if len(final.Manifest) > 0 {
		_ = json.Unmarshal(final.Manifest, &out)
	}
	fmt.Fprint(g.stdout, out.Output)
	if out.Output != "" && !strings.HasSuffix(out.Output, "\n") {
		fmt.Fprintln(g.stdout)
	}
	if out.Truncated {
		fmt.Fprintf(g.stderr, "cadang: restic's output was longer than the daemon keeps: only its beginning is shown\n")
	}
	if final.Status != api.Succeeded && out.ExitCode > 0 {
		fmt.Fprintf(g.stderr, "cadang: restic exited with code %d (run %d)\n", out.ExitCode, final.ID)
	}
	return exitFor(final)
}

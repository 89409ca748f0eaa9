package main

import (
	"context"
	"fmt"

	"github.com/cadang/cadang/engine/api"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// DRCRecoverOptions are the flags of `cadang drc recover`.
type DRCRecoverOptions struct {
	DRC, Agency string
	Wait        bool
}

// AddFlags adds the options' flags to f.
func (o *DRCRecoverOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.DRC, "drc", "", "the S3 `DRC` to recover (required)")
	f.StringVar(&o.Agency, "agency", "", "this agency's repository only (default: every agency)")
	f.BoolVar(&o.Wait, "wait", false, "wait for the recover runs to end; exit 1 if an object stays hidden")
}

func newDRCRecoverCommand(g *globals) *cobra.Command {
	var opts DRCRecoverOptions
	cmd := &cobra.Command{
		Use:   "recover --drc NAME [--agency ID] [--wait]",
		Short: "make objects hidden behind S3 delete markers visible again, and undo overwrites",
		Long: `On a versioned S3 bucket (every bucket with object lock), deleting an object without naming
a version only hides it behind a delete marker: the data stays, and at an immutable DRC
it cannot be erased before its retention date. An attacker holding cadang's keys can
still hide a whole repository this way, and "cadang drc status" then reports hidden
objects. This command lists the object versions of each agency's repository at the DRC
and, for every object whose latest version is a delete marker while an older version
exists, removes the delete markers, so that the repository opens again and restores
and drills from that DRC work. Then, for every object with more than one version whose
current version is not the one cadang wrote (a pack, index, snapshot or key file whose
content does not hash to its name; a config first written otherwise), the newest
earlier version that is intact is copied on top (locked, at an immutable DRC). Each
agency is one run (op "recover"); without --agency, cadang's escrowed state bundles
(_state/) are one more run, without an agency. Runs are recorded like any other; their
notes and manifest count what was found, made visible and restored. restic's lock
files are left as they are. See docs/ransomware.md.`,
		Example: `  cadang drc status
  cadang drc recover --drc offsite --wait
  cadang drc recover --drc offsite --agency dinkes`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDRCRecover(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runDRCRecover(ctx context.Context, g *globals, opts DRCRecoverOptions) error {
	if opts.DRC == "" {
		return &exitError{exitUsage, fmt.Errorf("give the DRC to recover: --drc NAME")}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	runs, err := c.Recover(ctx, api.RecoverRequest{DRC: opts.DRC, Agency: opts.Agency})
	if err != nil {
		return err
	}
	return queuedOrWaited(ctx, g, c, runs, opts.Wait, func(r api.RunInfo) string {
		if r.Agency == "" {
			return fmt.Sprintf("recover the state bundles at drc %s", r.DRC)
		}
		return fmt.Sprintf("recover agency %s at drc %s", r.Agency, r.DRC)
	}, "recover runs did not succeed: objects stay hidden or overwritten")
}

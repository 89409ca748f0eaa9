package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/iec"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// VerifyOptions are the flags of `cadang verify`.
type VerifyOptions struct {
	DRC      string
	Agency   string
	ReadData bool
}

// AddFlags adds the options' flags to f.
func (o *VerifyOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.DRC, "drc", "", "the `DRC` to verify")
	f.StringVar(&o.Agency, "agency", "", "only this `agency` (default: every agency)")
	f.BoolVar(&o.ReadData, "read-data", false, "also read every object: restic check --read-data and a SHA-256 of each object")
}

func newVerifyCommand(g *globals) *cobra.Command {
	var opts VerifyOptions
	cmd := &cobra.Command{
		Use:   "verify --drc NAME [--agency ID] [--read-data]",
		Short: "restic check at a DRC and compare its objects with the other DRCs",
		Long: `Verify the repositories at the DRC NAME (every agency's, or --agency ID's) and wait for
it: restic check there, and its objects compared with the other DRCs' (missing, extra,
of another size, not yet replicated). --read-data also reads every object: restic check
--read-data and a SHA-256 of each object. The exit status is the verify run's.`,
		Example: `  cadang verify --drc offsite
  cadang verify --drc offsite --agency dinkes --read-data`,
		Args: usageArgs(func(_ *cobra.Command, args []string) error {
			if len(args) > 0 || opts.DRC == "" {
				return errors.New("give --drc")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVerify(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runVerify(ctx context.Context, g *globals, opts VerifyOptions) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	ri, err := c.Verify(ctx, api.VerifyRequest{DRC: opts.DRC, Agency: opts.Agency, ReadData: opts.ReadData})
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
		return exitFor(final)
	}
	var rep api.VerifyReport
	if len(final.Manifest) > 0 {
		_ = json.Unmarshal(final.Manifest, &rep)
	}
	fmt.Fprintf(g.stdout, "run %d %s: verify drc %s in %s\n", final.ID, final.Status, final.DRC, took(final.Run))
	var rows [][]string
	for _, a := range rep.Agencies {
		corrupt := "-"
		if rep.ReadData {
			corrupt = fmt.Sprint(len(a.Corrupt))
		}
		for _, sc := range a.Compared {
			cmp := fmt.Sprintf("%d / %d / %d", sc.Missing, sc.Extra, sc.SizeDiffers)
			if sc.Error != "" {
				cmp = "not compared: " + sc.Error
			}
			rows = append(rows, []string{a.Agency, a.Check, fmt.Sprintf("%d (%s)", a.Objects, iec.UBytes(uint64(a.Bytes))), corrupt, sc.With, cmp, fmt.Sprint(sc.PendingDeletion)})
		}
		if len(a.Compared) == 0 {
			rows = append(rows, []string{a.Agency, a.Check, fmt.Sprintf("%d (%s)", a.Objects, iec.UBytes(uint64(a.Bytes))), corrupt, "-", "-", "-"})
		}
	}
	table(g.stdout, []string{"AGENCY", "RESTIC CHECK", "OBJECTS", "CORRUPT", "COMPARED WITH", "MISSING / EXTRA / SIZE DIFFERS", "PENDING DELETION"}, rows)
	for _, a := range rep.Agencies {
		for _, x := range a.Corrupt {
			fmt.Fprintf(g.stdout, "  %s: corrupt: %s\n", a.Agency, x)
		}
		for _, x := range a.KeyProblem {
			fmt.Fprintf(g.stdout, "  %s: key: %s\n", a.Agency, x)
		}
		if a.Note != "" {
			fmt.Fprintf(g.stdout, "  %s: %s\n", a.Agency, a.Note)
		}
		for _, sc := range a.Compared {
			if !sc.SameConfig && sc.Error == "" {
				fmt.Fprintf(g.stdout, "  %s: the config object differs from drc %s: not the same repository\n", a.Agency, sc.With)
			}
			if sc.NotYetReplicated {
				fmt.Fprintf(g.stdout, "  %s: %d object(s) of drc %s are not here yet: replication copies them (see `cadang drc status`)\n", a.Agency, sc.Missing, sc.With)
			}
			for _, x := range sc.DiffersExamples {
				fmt.Fprintf(g.stdout, "  %s: %s has another size at drc %s\n", a.Agency, x, sc.With)
			}
		}
	}
	return exitFor(final)
}

package main

import (
	"context"
	"errors"

	"github.com/cadang/cadang/engine/api"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// DrillOptions are the flags of `cadang drill`.
type DrillOptions struct {
	All  bool
	DRC  string
	Wait bool
}

// AddFlags adds the options' flags to f.
func (o *DrillOptions) AddFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.All, "all", false, "drill every target")
	f.StringVar(&o.DRC, "drc", "", "drill from this DRC only (default: the target's drill.drcs, every DRC unless set)")
	f.BoolVar(&o.Wait, "wait", false, "wait for the drills to end and print where their reports are; exit with the worst status")
}

func newDrillCommand(g *globals) *cobra.Command {
	var opts DrillOptions
	cmd := &cobra.Command{
		Use:   "drill TARGET|--all [--drc NAME] [--wait]",
		Short: "prove that targets restore: a restore drill from each DRC, with a report",
		Long: `Queue a restore drill of TARGET (or of every target with --all) from each DRC of its
drill.drcs (or from --drc NAME only): the newest good snapshot is restored into a
scratch place and checked, and the drill writes its report (see "cadang report drill").
With --wait, the command waits for the drills and exits with the worst status.`,
		Example: `  cadang drill portal-files --wait
  cadang drill --all --drc offsite`,
		Args: usageArgs(func(_ *cobra.Command, args []string) error {
			if (len(args) == 1) == opts.All || len(args) > 1 {
				return errors.New("give a target or --all")
			}
			return nil
		}),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDrill(cmd.Context(), g, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runDrill(ctx context.Context, g *globals, opts DrillOptions, args []string) error {
	req := api.DrillRequest{All: opts.All, DRC: opts.DRC}
	if len(args) == 1 {
		req.Target = args[0]
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	runs, err := c.Drill(ctx, req)
	if err != nil {
		return err
	}
	return finishRuns(ctx, g, c, runs, opts.Wait)
}

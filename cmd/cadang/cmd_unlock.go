package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cadang/cadang/engine/api"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// stdin is where confirmations are read (a variable for tests).
var stdin io.Reader = os.Stdin

// UnlockOptions are the flags of `cadang unlock`.
type UnlockOptions struct {
	DRC  string
	All  bool
	Yes  bool
	Wait bool
}

// AddFlags adds the options' flags to f.
func (o *UnlockOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.DRC, "drc", "", "the DRC (default: every DRC)")
	f.BoolVar(&o.All, "all", false, "remove every lock, whoever holds it (asks for confirmation)")
	f.BoolVar(&o.Yes, "yes", false, "with --all: do not ask, the holders are known to be gone")
	f.BoolVar(&o.Wait, "wait", false, "wait for the runs to end; exit with the worst status")
}

func newUnlockCommand(g *globals) *cobra.Command {
	var opts UnlockOptions
	cmd := &cobra.Command{
		Use:   "unlock [AGENCY] [--drc NAME] [--all [--yes]] [--wait]",
		Short: "remove stale restic locks (with --all, every lock), per agency repository",
		Long: `Queue an unlock of each agency's repository (or of AGENCY's) at every DRC (or at --drc
NAME): the restic locks proven stale are removed. With --all, every lock goes, whoever
holds it: a restic still running on another host may then see its repository change
under it, so --all asks for confirmation at a terminal, and needs --yes without one.
With --wait, the command waits for the runs and exits with the worst status.`,
		Example: `  cadang unlock --wait
  cadang unlock dinkes --drc offsite --all --yes`,
		Args: usageArgs(func(_ *cobra.Command, args []string) error {
			if len(args) > 1 || (opts.Yes && !opts.All) {
				return errors.New("bad arguments")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUnlock(cmd.Context(), g, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runUnlock(ctx context.Context, g *globals, opts UnlockOptions, args []string) error {
	req := api.UnlockRequest{DRC: opts.DRC, All: opts.All}
	if len(args) == 1 {
		req.Agency = args[0]
	}
	if opts.All && !opts.Yes {
		if err := confirmRemoveAll(g, req); err != nil {
			return err
		}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	runs, err := c.Unlock(ctx, req)
	if err != nil {
		return err
	}
	return finishRuns(ctx, g, c, runs, opts.Wait)
}

// confirmRemoveAll asks at a terminal before every lock goes: a lock of a restic that
// still runs (on another DRC host, say) protects what it writes. Without a terminal,
// --yes must say so.
func confirmRemoveAll(g *globals, req api.UnlockRequest) error {
	if !isTerminal(stdin) {
		return usageErrorf("--all removes locks that may belong to a restic still running elsewhere: confirm with --yes")
	}
	scope := "every agency"
	if req.Agency != "" {
		scope = "agency " + req.Agency
	}
	where := "every DRC"
	if req.DRC != "" {
		where = "drc " + req.DRC
	}
	fmt.Fprintf(g.stderr, "Remove EVERY restic lock of %s at %s, whoever holds it?\n", scope, where)
	fmt.Fprintf(g.stderr, "A restic still running on another host may then see its repository change under it. Type yes to go on: ")
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		return usageErrorf("not confirmed: no lock removed")
	}
	return nil
}

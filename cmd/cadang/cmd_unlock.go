package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cadang/cadang/engine/api"
)

func init() {
	register(&command{name: "unlock", args: "[AGENCY] [--drc NAME] [--all [--yes]] [--wait]",
		short: "remove stale restic locks (with --all, every lock), per agency repository", run: runUnlock})
}

// stdin is where confirmations are read (a variable for tests).
var stdin io.Reader = os.Stdin

func runUnlock(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("unlock", flag.ContinueOnError)
	drcName := fs.String("drc", "", "the DRC (default: every DRC)")
	all := fs.Bool("all", false, "remove every lock, whoever holds it (asks for confirmation)")
	yes := fs.Bool("yes", false, "with --all: do not ask, the holders are known to be gone")
	wait := fs.Bool("wait", false, "wait for the runs to end; exit with the worst status")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 || (*yes && !*all) {
		return usageErrorf("usage: cadang unlock [AGENCY] [--drc NAME] [--all [--yes]] [--wait]")
	}
	req := api.UnlockRequest{DRC: *drcName, All: *all}
	if len(pos) == 1 {
		req.Agency = pos[0]
	}
	if *all && !*yes {
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
	return finishRuns(ctx, g, c, runs, *wait)
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

package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// ReloadOptions are the flags of `cadang reload` (none but the global ones).
type ReloadOptions struct{}

func newReloadCommand(g *globals) *cobra.Command {
	var opts ReloadOptions
	return &cobra.Command{
		Use:   "reload",
		Short: "make the daemon re-read its configuration file",
		Long: `Make the daemon re-read its configuration file (as SIGHUP does) and apply it: targets,
agencies, schedules, the time zone, maintenance windows, drill and report settings. The
file is checked first: with a problem, or a change only a restart can apply (state_dir,
daemon, restic, drcs), nothing changes, the daemon goes on with the configuration it
runs, and every problem is printed (exit 2). Runs already queued run as they were
queued.`,
		Example: `  cadang reload
  cadang --config /etc/cadang/cadang.yaml reload`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReload(cmd.Context(), g, opts)
		},
	}
}

func runReload(ctx context.Context, g *globals, _ ReloadOptions) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	g.driftChecked = true // the answer is about the file now
	ans, err := c.Reload(ctx)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, ans)
	}
	if ans.Unchanged {
		fmt.Fprintf(g.stdout, "%s: unchanged since the daemon loaded it: nothing to do\n", ans.Config)
		return nil
	}
	fmt.Fprintf(g.stdout, "%s reloaded\n", ans.Config)
	for _, l := range []struct {
		what  string
		names []string
	}{{"added", ans.Added}, {"removed", ans.Removed}, {"changed", ans.Changed}} {
		if len(l.names) > 0 {
			fmt.Fprintf(g.stdout, "  targets %s: %s\n", l.what, strings.Join(l.names, ", "))
		}
	}
	for _, w := range ans.Warnings {
		fmt.Fprintf(g.stderr, "warning: %s\n", w)
	}
	return nil
}

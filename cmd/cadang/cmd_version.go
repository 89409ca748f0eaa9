package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine"
)

// VersionOptions are the flags of `cadang version` (none but the global ones).
type VersionOptions struct{}

func newVersionCommand(g *globals) *cobra.Command {
	var opts VersionOptions
	return &cobra.Command{
		Use:   "version",
		Short: "print the versions of cadang and restic",
		Long:  `Print the version of cadang (and of Go it was built with) and of the restic it runs. It works without a daemon.`,
		Example: `  cadang version
  cadang version --json`,
		// Any arguments were ignored before cobra; they still are.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(cmd.Context(), g, opts)
		},
	}
}

func runVersion(ctx context.Context, g *globals, _ VersionOptions) error {
	resticVersion, resticBinary := "not found", ""
	if bin, err := drc.FindRestic(""); err == nil {
		resticBinary = bin
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if v, err := (&drc.Restic{Binary: bin}).Version(ctx); err == nil {
			resticVersion = v
		}
	}
	if g.json {
		return printJSON(g.stdout, map[string]string{"cadang": engine.Version, "go": runtime.Version(), "restic": resticVersion, "restic_binary": resticBinary})
	}
	fmt.Fprintf(g.stdout, "cadang %s (%s %s/%s)\n%s\n", engine.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, resticVersion)
	return nil
}

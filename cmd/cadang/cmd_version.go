package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine"
)

func init() {
	register(&command{name: "version", short: "print the versions of cadang and restic", run: runVersion})
}

func runVersion(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if _, err := parse(fs, g, args); err != nil {
		return err
	}
	resticVersion := "not found"
	if bin, err := drc.FindRestic(""); err == nil {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if v, err := (&drc.Restic{Binary: bin}).Version(ctx); err == nil {
			resticVersion = v
		}
	}
	if g.json {
		return printJSON(g.stdout, map[string]string{"cadang": engine.Version, "go": runtime.Version(), "restic": resticVersion})
	}
	fmt.Fprintf(g.stdout, "cadang %s (%s %s/%s)\n%s\n", engine.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, resticVersion)
	return nil
}

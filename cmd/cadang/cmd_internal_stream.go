package main

import (
	"context"
	"errors"
	"os"

	"github.com/cadang/cadang/targets"
)

func init() {
	register(&command{name: "internal-stream", hidden: true, short: "(internal) produce a target kind's backup stream", run: runInternalStream})
}

// runInternalStream is what targets.SelfCommand runs: restic starts it through
// --stdin-from-command, and a kind's Stream function writes the snapshot's content to
// stdout (for example several database dumps in one archive). A non-zero exit fails
// the snapshot.
func runInternalStream(ctx context.Context, g *globals, args []string) error {
	if len(args) != 2 {
		return usageErrorf("usage: cadang internal-stream KIND SPECFILE")
	}
	kind, ok := targets.Lookup(args[0])
	if !ok || kind.Stream == nil {
		return usageErrorf("kind %q has no stream", args[0])
	}
	if err := kind.Stream(ctx, args[1], os.Stdout); err != nil {
		return errors.New(targets.FirstLine(err.Error()))
	}
	return nil
}

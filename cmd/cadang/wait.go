package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cadang/cadang/engine/api"
)

// exitDetached is the exit status of a command whose wait was interrupted (Ctrl-C or
// SIGTERM at the client): the client stopped waiting, the runs go on in the daemon.
const exitDetached = 4

// waitRuns waits for runs to end, like Client.Wait. When ctx ends first (the user
// pressed Ctrl-C), it does not pretend the runs failed: it says that they go on in the
// daemon, how to follow and how to cancel them, and exits with exitDetached.
func waitRuns(ctx context.Context, c *api.Client, ids []uint64, progress func(*api.RunInfo)) ([]*api.RunInfo, error) {
	out := make([]*api.RunInfo, 0, len(ids))
	for _, id := range ids {
		ri, err := c.Wait(ctx, id, 250*time.Millisecond, progress)
		if err != nil {
			if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
				return out, detached(ids[len(out):])
			}
			return out, err
		}
		out = append(out, ri)
	}
	return out, nil
}

// waitRun is waitRuns for one run.
func waitRun(ctx context.Context, c *api.Client, id uint64, progress func(*api.RunInfo)) (*api.RunInfo, error) {
	out, err := waitRuns(ctx, c, []uint64{id}, progress)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func detached(ids []uint64) error {
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = fmt.Sprint(id)
	}
	noun, verb := "run", "goes"
	if len(ids) > 1 {
		noun, verb = "runs", "go"
	}
	return &exitError{exitDetached, fmt.Errorf("stopped waiting: %s %s %s on in the daemon; follow with `cadang runs`, stop with `cadang cancel %s`",
		noun, strings.Join(list, ", "), verb, strings.Join(list, " "))}
}

// waitAll waits for every run of runs to end; it returns them as they ended and how
// many did not succeed.
func waitAll(ctx context.Context, c *api.Client, runs []api.RunInfo) ([]api.RunInfo, int, error) {
	ids := make([]uint64, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	ended, err := waitRuns(ctx, c, ids, nil)
	if err != nil {
		return nil, 0, err
	}
	out := make([]api.RunInfo, 0, len(ended))
	failed := 0
	for _, ri := range ended {
		if ri.Status != api.Succeeded {
			failed++
		}
		out = append(out, *ri)
	}
	return out, failed, nil
}

// queuedOrWaited ends a command that queued one run per agency and DRC: without wait
// it says they are queued; with it, it waits for them all and prints each with its
// notes and error (JSON: the runs). describe says what a run does ("replicate agency
// dinkes to drc offsite"); a run that did not succeed is an exit error saying
// failWhat.
func queuedOrWaited(ctx context.Context, g *globals, c *api.Client, runs []api.RunInfo, wait bool, describe func(api.RunInfo) string, failWhat string) error {
	if !wait {
		if g.json {
			return printJSON(g.stdout, runs)
		}
		for _, r := range runs {
			fmt.Fprintf(g.stdout, "run %d queued: %s\n", r.ID, describe(r))
		}
		return nil
	}
	final, failed, err := waitAll(ctx, c, runs)
	if err != nil {
		return err
	}
	if g.json {
		if err := printJSON(g.stdout, final); err != nil {
			return err
		}
	} else {
		for _, r := range final {
			fmt.Fprintf(g.stdout, "run %d %s: %s in %s\n", r.ID, r.Status, describe(r), took(r.Run))
			for _, n := range r.Notes {
				fmt.Fprintf(g.stdout, "  %s\n", n)
			}
			if r.Error != "" {
				fmt.Fprintf(g.stdout, "  error: %s\n", r.Error)
			}
		}
	}
	if failed > 0 {
		return &exitError{exitFailed, fmt.Errorf("%d of %d %s", failed, len(final), failWhat)}
	}
	return nil
}

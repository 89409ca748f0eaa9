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

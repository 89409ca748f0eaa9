package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/cadang/cadang/engine/api"
)

// The check mode of `status` and `drc status` (--check) is for monitoring: one line
// per problem on stdout and exit 1 when there is any; one "ok" line and exit 0 when
// there is none. The problems are the daemon's (engine/problems.go).

// statusProblems gathers what `status --check` reports: the daemon's status problems
// and, since a status does not probe the DRCs, each DRC's own (probed now; its lag is
// already among the status problems).
func statusProblems(ctx context.Context, c *api.Client, st *api.Status) ([]string, error) {
	out := append([]string(nil), st.Problems...)
	drcs, err := c.DRCs(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range drcs {
		for _, p := range d.Problems {
			if !strings.Contains(p, "behind the primary") {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// reportCheck prints problems (or that there is none, with what was checked) and
// returns the exit status monitoring reads.
func reportCheck(g *globals, problems []string, checked string) error {
	if len(problems) == 0 {
		fmt.Fprintf(g.stdout, "ok: %s, no problem\n", checked)
		return nil
	}
	for _, p := range problems {
		fmt.Fprintln(g.stdout, p)
	}
	return &exitError{exitFailed, fmt.Errorf("%d problem(s)", len(problems))}
}

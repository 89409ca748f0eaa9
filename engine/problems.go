package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cadang/cadang/engine/api"
)

// Problems: what monitoring must hear about, one line each, computed where the state is
// (never by the client), so that `cadang status --check`, `cadang drc status --check`
// and any other client of the API agree on what is unhealthy.

// targetProblems are a target's problems: its last backup did not succeed, it has no
// good snapshot, or its newest good snapshot is older than its rpo.
func targetProblems(ts TargetStatus, rpo time.Duration, now time.Time) []string {
	var out []string
	if b := ts.LastBackup; b != nil && b.Status.Done() && b.Status != api.Succeeded {
		msg := fmt.Sprintf("target %q: the last backup (run %d, %s) %s", ts.Name, b.ID, b.Time.UTC().Format(time.RFC3339), b.Status)
		if b.Error != "" {
			msg += ": " + b.Error
		}
		out = append(out, msg)
	}
	for _, d := range slices.Sorted(maps.Keys(ts.Damaged)) {
		out = append(out, fmt.Sprintf("target %q: %d snapshot(s) damaged at drc %q: they need data no DRC holds whole (cadang drc damage)", ts.Name, ts.Damaged[d], d))
	}
	switch {
	case ts.NewestGood == nil:
		out = append(out, fmt.Sprintf("target %q has no good snapshot", ts.Name))
	case rpo > 0 && now.Sub(*ts.NewestGood) > rpo:
		out = append(out, fmt.Sprintf("target %q: the newest good snapshot is %s old, over its rpo of %s",
			ts.Name, now.Sub(*ts.NewestGood).Round(time.Minute), rpo))
	}
	return out
}

// statusProblems are the problems a status answer shows.
func (v service) statusProblems(st *Status) []string {
	cf := v.d.conf()
	out := []string{}
	for _, ts := range st.TargetStatus {
		var rpo time.Duration
		if tc := cf.targets[ts.Name]; tc != nil {
			rpo = tc.Cfg.RPO
		}
		out = append(out, targetProblems(ts, rpo, st.Now)...)
	}
	for _, l := range st.Replication {
		if l.LagExceeded {
			out = append(out, lagProblem(l.DRC, l.Lag, l.MaxLag, l.SnapshotsPending))
		}
	}
	for _, a := range st.Agents {
		if !a.Up {
			seen := "has never sent a heartbeat"
			if a.LastHeartbeat != nil {
				seen = "sent its last heartbeat at " + a.LastHeartbeat.UTC().Format(time.RFC3339)
			}
			out = append(out, fmt.Sprintf("agent %q is down: it %s (cluster.heartbeat_timeout %s)", a.Name, seen, cf.cfg.Cluster.HeartbeatTimeout))
		}
	}
	for _, r := range st.Repositories {
		if c := r.LastCheck; c != nil && c.Status != api.Succeeded {
			msg := fmt.Sprintf("the repository of agency %q at drc %q: the last check (run %d) %s", r.Agency, r.DRC, c.Run, c.Status)
			if c.Message != "" {
				msg += ": " + c.Message
			}
			out = append(out, msg)
		}
	}
	return out
}

// drcProblems are a DRC's problems: unreachable, active alarms, replication over its
// max_lag, or a last replication pass that failed.
func drcProblems(st *DRCStatus) []string {
	out := []string{}
	if !st.Health.Reachable {
		msg := fmt.Sprintf("drc %q is unreachable", st.DRC)
		if e := strings.TrimPrefix(st.Health.Error, fmt.Sprintf("drc %q: ", st.DRC)); e != "" {
			msg += ": " + e
		}
		out = append(out, msg)
	}
	if st.Health.LockError != "" {
		out = append(out, st.Health.LockError)
	}
	for _, a := range st.Alarms {
		times := "once"
		if a.Count > 1 {
			times = fmt.Sprintf("%d times", a.Count)
		}
		out = append(out, fmt.Sprintf("drc %q: alarm (%s, agency %s, raised %s since %s): %s", st.DRC, a.Kind, a.Agency, times,
			a.First.UTC().Format(time.RFC3339), a.Message))
	}
	if r := st.Replication; r != nil {
		if r.LagExceeded {
			out = append(out, lagProblem(st.DRC, r.Lag, r.MaxLag, r.SnapshotsPending))
		}
		if r.LastError != "" && r.LastPass.After(r.LastSuccess) {
			out = append(out, fmt.Sprintf("drc %q: the last replication pass (%s) failed: %s", st.DRC, r.LastPass.UTC().Format(time.RFC3339), r.LastError))
		}
	}
	return out
}

// lagProblem says that a secondary is over its max_lag, in status and drc status alike.
func lagProblem(drcName, lag, maxLag string, pending int) string {
	return fmt.Sprintf("drc %q is %s behind the primary, over its max_lag of %s (%d snapshots pending)", drcName, lag, maxLag, pending)
}

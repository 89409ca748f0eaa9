package engine

import (
	"sort"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/replication"
)

// maxWaitingShown bounds the waiting runs a status answer lists (all are counted).
const maxWaitingShown = 200

// fillStatus adds the unattended daemon's part to a status answer.
func (v service) fillStatus(st *Status) error {
	cf := v.d.conf()
	now := v.d.now()
	st.Now, st.TimeZone = now, cf.sched.Loc().String()
	if w, ok := cf.cfg.Scheduler.BlackoutAt(now); ok {
		st.Blackout = apiWindow(w)
	}
	st.Waiting = []RunInfo{}
	for _, j := range v.d.queue.Pending(maxWaitingShown) {
		st.Waiting = append(st.Waiting, v.runInfo(catalog.Run{ID: j.Run.ID}))
	}
	st.Next = cf.sched.Plan(now, now.Add(8*24*time.Hour), 10)
	for i := range st.Next {
		v.markHeld(&st.Next[i])
	}
	st.TargetStatus = []TargetStatus{}
	for i := range cf.cfg.Targets {
		ts, err := v.targetStatus(&cf.cfg.Targets[i])
		if err != nil {
			return err
		}
		st.TargetStatus = append(st.TargetStatus, ts)
	}
	repos, err := v.d.cat.RepoStates()
	if err != nil {
		return err
	}
	st.Repositories = make([]api.RepoState, len(repos))
	for i, r := range repos {
		st.Repositories[i] = apiRepoState(r)
	}
	if st.Replication, err = v.replicationLags(); err != nil {
		return err
	}
	st.Agents = v.agentInfos()
	st.Problems = v.statusProblems(st)
	return nil
}

// agentInfos are the enrolled agents of a status answer (nil without cluster:).
func (v service) agentInfos() []api.AgentInfo {
	var out []api.AgentInfo
	for _, a := range v.d.agentStatuses() {
		ai := api.AgentInfo{Name: a.Name, Pool: a.Pool, Host: a.Host, Version: a.Version, Up: a.Up,
			Running: append([]uint64{}, a.Running...), Capacity: a.Capacity}
		if !a.LastSeen.IsZero() {
			seen := a.LastSeen
			ai.LastHeartbeat = &seen
		}
		out = append(out, ai)
	}
	return out
}

func (v service) replicationLags() ([]ReplicationLag, error) {
	states, err := v.d.cat.ReplStates()
	if err != nil {
		return nil, err
	}
	out := []ReplicationLag{}
	for _, s := range v.d.repl.Secondaries() {
		l := v.d.repl.Lag(s.Name)
		rl := ReplicationLag{DRC: s.Name, Lag: l.Lag.Round(time.Second).String(), LagSeconds: l.Lag.Seconds(),
			SnapshotsPending: l.Snapshots, OldestTarget: l.OldestTarget}
		if m := s.Replication.Effective().MaxLag; m > 0 {
			rl.MaxLag, rl.LagExceeded = m.String(), l.Lag > m
		}
		rl.BytesPending = pendingBytes(l, s.Name, states)
		out = append(out, rl)
	}
	return out, nil
}

func (v service) targetStatus(tc *config.Target) (TargetStatus, error) {
	cf := v.d.conf()
	ts := TargetStatus{Name: tc.Name, Agency: tc.Agency, Kind: tc.Kind, Schedule: tc.Schedule}
	if next, ok := cf.sched.NextOf("backup/" + tc.Name); ok {
		ts.NextRun = &next
	}
	runs, err := v.d.cat.Runs(catalog.RunFilter{Target: tc.Name, Op: "backup", Limit: 1})
	if err != nil {
		return ts, err
	}
	if len(runs) == 1 {
		r := v.runInfo(runs[0]).Run
		ts.LastBackup = &RunBrief{ID: r.ID, Status: r.Status, Reason: r.Reason, Time: r.Time, Error: r.Error}
	}
	snaps, err := v.d.cat.Snapshots(tc.Name)
	if err != nil {
		return ts, err
	}
	prim := v.d.sites.primary().Name
	for _, s := range snaps { // oldest first
		if s.Status != catalog.SnapshotGood {
			continue
		}
		for drcName := range s.Damaged {
			if ts.Damaged == nil {
				ts.Damaged = map[string]int{}
			}
			ts.Damaged[drcName]++
		}
		if s.Damaged[prim] != "" {
			continue // it cannot be restored whole where backups go: not fresh data
		}
		t := s.Time
		if ts.OldestGood == nil {
			ts.OldestGood = &t
		}
		ts.NewestGood = &t
		ts.GoodSnapshots++
	}
	// The RPO grade at each DRC, as the metrics grade it (metrics.go).
	now := v.d.now()
	rpo := effectiveRPO(&target{Cfg: tc}, cf.sched.Loc(), now)
	ts.RPOSeconds = rpo.Seconds()
	for _, site := range v.d.sites {
		newest := v.d.rpoNewest(tc.Name, snaps, site.Name)
		switch {
		case newest.IsZero():
			ts.RPOGrade = setGrade(ts.RPOGrade, site.Name, RPOCritical)
		case rpo > 0:
			ts.RPOGrade = setGrade(ts.RPOGrade, site.Name, RPOGrade(now.Sub(newest).Seconds()/rpo.Seconds()))
		}
	}
	return ts, nil
}

// markHeld marks a planned run that comes due in a maintenance window.
func (v service) markHeld(p *PlannedRun) {
	cf := v.d.conf()
	if p.Op == "blackout" {
		return
	}
	if w, ok := cf.cfg.Scheduler.BlackoutAt(p.Time); ok {
		end := w.End
		p.Status, p.Until, p.Reason = "held", &end, w.Name
	}
}

// schedule lists the runs the schedules will queue in [from, to) and the maintenance
// windows that open then, by time.
func (v service) schedule(from, to time.Time) []PlannedRun {
	cf := v.d.conf()
	out := cf.sched.Plan(from, to, 0)
	for i := range out {
		v.markHeld(&out[i])
	}
	for _, w := range cf.cfg.Scheduler.Windows(from, to) {
		end := w.End
		out = append(out, PlannedRun{Time: w.Start, Op: "blackout", Status: "blackout", Until: &end, Reason: w.Name})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// pendingBytes is what is left to copy to a secondary: what the snapshots pending in the
// ledger added at the primary, or what the last pass counted when that is more (objects
// a pass found missing that no pending snapshot accounts for, such as index files).
// When no snapshot is pending, the last pass's count is all there is to go by.
func pendingBytes(l replication.Lag, secondary string, states []catalog.ReplState) int64 {
	var last int64
	for _, ps := range states {
		if ps.DRC == secondary {
			last += ps.PendingBytes
		}
	}
	return max(l.Bytes, last)
}

func setGrade(m map[string]string, drc, grade string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[drc] = grade
	return m
}

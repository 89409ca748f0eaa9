package engine

import (
	"context"
	"time"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/runs"
	"github.com/cadang/cadang/engine/schedule"
)

// Reasons recorded on runs (besides the schedule's own, schedule.ReasonSchedule and
// schedule.ReasonCatchUp).
const (
	reasonSchedule  = schedule.ReasonSchedule
	reasonCatchUp   = schedule.ReasonCatchUp
	reasonOnDemand  = "on-demand"
	reasonRetention = runs.ReasonRetention
	reasonRecovery  = "recovery"
	reasonDeferred  = "deferred" // a prune PruneGate held back, queued again
)

// submission is a run to queue.
type submission struct {
	run  *catalog.Run
	prio int
	exec func(ctx context.Context, j *queue.Job) error
	key  string
	// beside: the run does not keep its target busy (queue.Uses.Beside)
	beside bool
}

// fire queues the runs of due slots, and stores the schedules' new states with them in
// one transaction. A slot whose previous run still waits joins it; a missed slot of a
// target with catchup: false is only recorded.
func (d *Daemon) fire(due []schedule.DueSlot, extra []catalog.ScheduleState) error {
	states := extra
	var subs []submission
	for _, ds := range due {
		e := ds.Entry
		states = append(states, e.State())
		if ds.Reason == reasonCatchUp && !e.CatchUp {
			d.log.Warn("scheduled run missed; not made up (catchup: false)", "schedule", e.Key, "slot", ds.Slot, "missed", ds.Missed)
			continue
		}
		for _, sub := range d.scheduledRuns(e, ds.Reason) {
			if w := d.queue.Waiting(sub.key); w != nil {
				d.log.Info("slot joins the run still waiting", "schedule", e.Key, "slot", ds.Slot, "run", w.Run.ID)
				continue
			}
			subs = append(subs, sub)
		}
		if ds.Missed > 1 {
			d.log.Info("missed scheduled runs made up by one catch-up run", "schedule", e.Key, "missed", ds.Missed)
		}
	}
	if len(subs) == 0 && len(states) == 0 {
		return nil
	}
	_, err := d.submitAll(subs, states)
	return err
}

// scheduledRuns builds the runs a schedule's slot queues: one backup, or one prune or
// check per agency at the DRC.
func (d *Daemon) scheduledRuns(e *schedule.Entry, reason string) []submission {
	cf := d.conf()
	switch e.Op {
	case "backup":
		t := cf.targets[e.Target]
		if t == nil {
			return nil
		}
		return []submission{d.backupSubmission(t, reason, queue.PriorityScheduled)}
	case "drill":
		t := cf.targets[e.Target]
		if t == nil {
			return nil
		}
		return d.drillSubmissions(t, "", reason, queue.PriorityScheduled)
	case "prune", "check":
		site, err := d.sites.site(e.DRC)
		if err != nil {
			return nil
		}
		var out []submission
		for _, a := range cf.cfg.Agencies {
			if e.Op == "prune" {
				out = append(out, d.pruneSubmission(site, a.ID, reason, queue.PriorityScheduled))
			} else {
				out = append(out, d.checkSubmission(site, a.ID, "", reason, queue.PriorityScheduled))
			}
		}
		return out
	}
	return nil
}

// scheduleLoop fires schedules as they come due, until ctx ends. It wakes at the next
// due time, and at least every minute (the clock may jump).
func (d *Daemon) scheduleLoop(ctx context.Context) {
	for {
		d.schedMu.Lock()
		sched := d.conf().sched // a reload may replace it between two passes
		if err := d.fire(sched.Tick(d.now()), nil); err != nil {
			d.log.Error("cannot queue scheduled runs", "err", err)
		}
		d.schedMu.Unlock()
		wait := time.Minute
		if next, ok := sched.NextDue(); ok {
			wait = min(wait, max(next.Sub(d.now()), time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-d.schedWake:
			t.Stop()
		}
	}
}

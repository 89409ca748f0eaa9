package engine

import (
	"container/heap"
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/queue"
)

// Scheduling.
//
// Every schedule (a target's backups, a DRC's prunes and checks) is an entry that
// knows the last slot it handled; entries sit in a heap ordered by when their next
// slot comes due, so the daemon sleeps until the earliest one (ten thousand targets
// cost nothing while nothing is due). A slot comes due at its cron time plus the
// entry's jitter: a fixed offset in [0, jitter) derived from the target's name, so
// that 200 targets at "0 2 * * *" spread out, yet each starts at the same minute
// every day.
//
// The catalog remembers each entry's last slot. At start, an entry whose slots came
// due while the daemon was down is run once (reason catch-up), however many slots
// were missed, unless the target says catchup: false. A new schedule, or one whose
// cron or jitter changed, starts from now (nothing to catch up). A slot that comes due
// while the previous run of the same schedule is still waiting joins it instead of
// queuing a second one.

// Reasons recorded on runs.
const (
	reasonSchedule  = "schedule"
	reasonCatchUp   = "catch-up"
	reasonOnDemand  = "on-demand"
	reasonRetention = "retention"
	reasonRecovery  = "recovery"
	reasonDeferred  = "deferred" // a prune PruneGate held back, queued again
)

// lateAfter: a slot handled later than this after it came due (the machine slept,
// the clock jumped) counts as missed: it runs as a catch-up.
const lateAfter = time.Minute

// entry is one schedule.
type entry struct {
	key     string // backup/<target>, prune/<drc>, check/<drc>
	op      string
	target  string // for backups
	drc     string // for prunes and checks
	cron    string
	spec    string // cron and jitter, as stored with the state
	sched   cron.Schedule
	offset  time.Duration
	catchup bool

	last time.Time // the last slot handled
	next time.Time // the first slot after last
	idx  int       // in the heap
}

// due is when the next slot comes due.
func (e *entry) due() time.Time { return e.next.Add(e.offset) }

// dueBy counts the slots after last that are due at now, and returns the latest.
func (e *entry) dueBy(now time.Time) (n int, latest time.Time) {
	for s := e.next; !s.IsZero() && !s.Add(e.offset).After(now); s = e.sched.Next(s) {
		n, latest = n+1, s
		if n >= 1<<20 { // a schedule every minute for two years: enough to say "missed"
			break
		}
	}
	return n, latest
}

func (e *entry) state() catalog.ScheduleState {
	return catalog.ScheduleState{Key: e.key, Spec: e.spec, Last: e.last}
}

// jitterOffset is a target's fixed delay in [0, max), derived from its name.
func jitterOffset(name string, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	unit := time.Second
	if max < 10*time.Second {
		unit = time.Millisecond
	}
	n := uint64(max / unit)
	if n == 0 {
		return 0
	}
	return time.Duration(h.Sum64()%n) * unit
}

type entryHeap []*entry

func (h entryHeap) Len() int { return len(h) }
func (h entryHeap) Less(i, j int) bool {
	if di, dj := h[i].due(), h[j].due(); !di.Equal(dj) {
		return di.Before(dj)
	}
	return h[i].key < h[j].key
}
func (h entryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *entryHeap) Push(x any)   { e := x.(*entry); e.idx = len(*h); *h = append(*h, e) }
func (h *entryHeap) Pop() any     { old := *h; e := old[len(old)-1]; *h = old[:len(old)-1]; return e }
func (h entryHeap) top() *entry   { return h[0] }
func (h *entryHeap) fix(e *entry) { heap.Fix(h, e.idx) }
func (h *entryHeap) init(es []*entry) {
	*h = append((*h)[:0], es...)
	for i, e := range *h {
		e.idx = i
	}
	heap.Init(h)
}

// scheduler holds every schedule of a configuration.
type scheduler struct {
	loc *time.Location

	mu      sync.Mutex
	entries []*entry // in configuration order
	byKey   map[string]*entry
	heap    entryHeap
}

func newScheduler(cfg *config.Config) *scheduler {
	loc := cfg.Scheduler.Location
	if loc == nil {
		loc, _ = time.LoadLocation(config.DefaultTimeZone)
	}
	s := &scheduler{loc: loc, byKey: map[string]*entry{}}
	add := func(e *entry) {
		sched, err := config.CronParser.Parse(e.cron)
		if err != nil {
			return // the config loader reported it
		}
		e.sched = sched
		e.spec = e.cron
		if e.offset > 0 {
			e.spec = fmt.Sprintf("%s jitter %s", e.cron, e.offset)
		}
		s.entries = append(s.entries, e)
		s.byKey[e.key] = e
	}
	primary := ""
	if p := cfg.Primary(); p != nil {
		primary = p.Name
	}
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		if t.Schedule != "" {
			add(&entry{key: "backup/" + t.Name, op: "backup", target: t.Name, drc: primary, cron: t.Schedule,
				offset: jitterOffset(t.Name, cfg.TargetJitter(t)), catchup: t.CatchUp()})
		}
		if dr := cfg.DrillOf(t); dr.Schedule != "" {
			add(&entry{key: "drill/" + t.Name, op: "drill", target: t.Name, cron: dr.Schedule,
				offset: jitterOffset("drill/"+t.Name, cfg.TargetJitter(t)), catchup: true})
		}
	}
	for _, dc := range cfg.DRCs {
		if m := dc.Maintenance; m.Prune != "" {
			add(&entry{key: "prune/" + dc.Name, op: "prune", drc: dc.Name, cron: m.Prune, catchup: true})
		}
		if m := dc.Maintenance; m.Check != "" {
			add(&entry{key: "check/" + dc.Name, op: "check", drc: dc.Name, cron: m.Check, catchup: true})
		}
	}
	return s
}

// dueSlot is a schedule whose slot came due.
type dueSlot struct {
	e      *entry
	slot   time.Time
	reason string
	missed int // slots it stands for
}

// load restores each schedule's last slot from the catalog at start. It returns the
// slots missed while the daemon was down (one per schedule) and every state to store.
func (s *scheduler) load(now time.Time, states map[string]catalog.ScheduleState) (due []dueSlot, store []catalog.ScheduleState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = now.In(s.loc)
	for _, e := range s.entries {
		st, ok := states[e.key]
		if !ok || st.Spec != e.spec || st.Last.After(now) {
			// New, changed, or from the future (the clock went back): start from now.
			e.last, e.next = now, e.sched.Next(now)
			store = append(store, e.state())
			continue
		}
		e.last, e.next = st.Last.In(s.loc), e.sched.Next(st.Last.In(s.loc))
		if n, latest := e.dueBy(now); n > 0 {
			e.last, e.next = latest, e.sched.Next(latest)
			due = append(due, dueSlot{e: e, slot: latest, reason: reasonCatchUp, missed: n})
			store = append(store, e.state())
		}
	}
	s.heap.init(s.entries)
	return due, store
}

// tick returns the schedules due at now and moves each to its next slot.
func (s *scheduler) tick(now time.Time) []dueSlot {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = now.In(s.loc)
	var due []dueSlot
	for len(s.heap) > 0 && !s.heap.top().due().After(now) {
		e := s.heap.top()
		n, latest := e.dueBy(now)
		if n == 0 { // cannot happen: due() is the first slot's due time
			break
		}
		reason := reasonSchedule
		if n > 1 || now.Sub(latest.Add(e.offset)) > lateAfter {
			reason = reasonCatchUp
		}
		e.last, e.next = latest, e.sched.Next(latest)
		s.heap.fix(e)
		due = append(due, dueSlot{e: e, slot: latest, reason: reason, missed: n})
	}
	return due
}

// nextDue returns when the earliest schedule comes due.
func (s *scheduler) nextDue() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.heap) == 0 || s.heap.top().next.IsZero() {
		return time.Time{}, false
	}
	return s.heap.top().due(), true
}

// plan lists the slots of every schedule that come due in [from, to), by time.
func (s *scheduler) plan(from, to time.Time, limit int) []PlannedRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PlannedRun
	for _, e := range s.entries {
		n := 0 // with a limit, an entry's first `limit` slots are all the top `limit` can hold
		// The first slot whose due time (slot + offset) is at or after from.
		for slot := e.sched.Next(from.Add(-e.offset - time.Nanosecond).In(s.loc)); !slot.IsZero() && slot.Add(e.offset).Before(to); slot = e.sched.Next(slot) {
			p := PlannedRun{Time: slot.Add(e.offset), Op: e.op, Target: e.target, DRC: e.drc, Status: "planned", Cron: e.cron}
			if e.offset > 0 {
				p.Jitter = e.offset.String()
			}
			out = append(out, p)
			if n++; limit > 0 && n >= limit {
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// nextOf returns when a schedule's next slot comes due.
func (s *scheduler) nextOf(key string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byKey[key]
	if !ok || e.next.IsZero() {
		return time.Time{}, false
	}
	return e.due(), true
}

// submission is a run to queue.
type submission struct {
	run  *catalog.Run
	prio int
	exec func(ctx context.Context, j *queue.Job) error
	key  string
}

// fire queues the runs of due slots, and stores the schedules' new states with them in
// one transaction. A slot whose previous run still waits joins it; a missed slot of a
// target with catchup: false is only recorded.
func (d *Daemon) fire(due []dueSlot, extra []catalog.ScheduleState) error {
	states := extra
	var subs []submission
	for _, ds := range due {
		e := ds.e
		states = append(states, e.state())
		if ds.reason == reasonCatchUp && !e.catchup {
			d.log.Warn("scheduled run missed; not made up (catchup: false)", "schedule", e.key, "slot", ds.slot, "missed", ds.missed)
			continue
		}
		for _, sub := range d.scheduledRuns(e, ds.reason) {
			if w := d.queue.Waiting(sub.key); w != nil {
				d.log.Info("slot joins the run still waiting", "schedule", e.key, "slot", ds.slot, "run", w.Run.ID)
				continue
			}
			subs = append(subs, sub)
		}
		if ds.missed > 1 {
			d.log.Info("missed scheduled runs made up by one catch-up run", "schedule", e.key, "missed", ds.missed)
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
func (d *Daemon) scheduledRuns(e *entry, reason string) []submission {
	switch e.op {
	case "backup":
		t := d.targets[e.target]
		if t == nil {
			return nil
		}
		return []submission{d.backupSubmission(t, reason, queue.PriorityScheduled)}
	case "drill":
		t := d.targets[e.target]
		if t == nil {
			return nil
		}
		return d.drillSubmissions(t, "", reason, queue.PriorityScheduled)
	case "prune", "check":
		site, err := d.site(e.drc)
		if err != nil {
			return nil
		}
		var out []submission
		for _, a := range d.cfg.Agencies {
			if e.op == "prune" {
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
		if err := d.fire(d.sched.tick(d.now()), nil); err != nil {
			d.log.Error("cannot queue scheduled runs", "err", err)
		}
		wait := time.Minute
		if next, ok := d.sched.nextDue(); ok {
			wait = min(wait, max(next.Sub(d.now()), time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

package schedule

import (
	"container/heap"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
)

// Scheduling.
//
// Every schedule (a target's backups, a DRC's prunes and checks) is an Entry that
// knows the last slot it handled; entries sit in a heap ordered by when their next
// slot comes due, so the daemon sleeps until the earliest one (ten thousand targets
// cost nothing while nothing is due). A slot comes due at its cron time plus the
// Entry's jitter: a fixed offset in [0, jitter) derived from the target's name, so
// that 200 targets at "0 2 * * *" spread out, yet each starts at the same minute
// every day.
//
// The catalog remembers each Entry's last slot. At start, an Entry whose slots came
// due while the daemon was down is run once (reason catch-up), however many slots
// were missed, unless the target says catchup: false. A new schedule, or one whose
// cron or jitter changed, starts from now (nothing to catch up). A slot that comes due
// while the previous run of the same schedule is still waiting joins it instead of
// queuing a second one.

// Reasons a slot comes due, recorded on its runs.
const (
	ReasonSchedule = "schedule"
	ReasonCatchUp  = "catch-up"
)

// lateAfter: a slot handled later than this after it came due (the machine slept,
// the clock jumped) counts as missed: it runs as a catch-up.
const lateAfter = time.Minute

// Entry is one schedule.
type Entry struct {
	Key     string // backup/<target>, drill/<target>, prune/<drc>, check/<drc>
	Op      string
	Target  string // for backups and drills
	DRC     string // for prunes and checks (backups: the primary)
	Cron    string
	Spec    string // cron and jitter, as stored with the state
	Sched   cron.Schedule
	Offset  time.Duration
	CatchUp bool // a missed slot is made up at start

	last time.Time // the last slot handled
	next time.Time // the first slot after last
	idx  int       // in the heap
}

// due is when the next slot comes due.
func (e *Entry) due() time.Time { return e.next.Add(e.Offset) }

// dueBy counts the slots after last that are due at now, and returns the latest.
func (e *Entry) dueBy(now time.Time) (n int, latest time.Time) {
	for s := e.next; !s.IsZero() && !s.Add(e.Offset).After(now); s = e.Sched.Next(s) {
		n, latest = n+1, s
		if n >= 1<<20 { // a schedule every minute for two years: enough to say "missed"
			break
		}
	}
	return n, latest
}

// State is the schedule's state as the catalog stores it.
func (e *Entry) State() catalog.ScheduleState {
	return catalog.ScheduleState{Key: e.Key, Spec: e.Spec, Last: e.last}
}

// JitterOffset is a target's fixed delay in [0, max), derived from its name.
func JitterOffset(name string, max time.Duration) time.Duration {
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

type entryHeap []*Entry

func (h entryHeap) Len() int { return len(h) }
func (h entryHeap) Less(i, j int) bool {
	if di, dj := h[i].due(), h[j].due(); !di.Equal(dj) {
		return di.Before(dj)
	}
	return h[i].Key < h[j].Key
}
func (h entryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *entryHeap) Push(x any)   { e := x.(*Entry); e.idx = len(*h); *h = append(*h, e) }
func (h *entryHeap) Pop() any     { old := *h; e := old[len(old)-1]; *h = old[:len(old)-1]; return e }
func (h entryHeap) top() *Entry   { return h[0] }
func (h *entryHeap) fix(e *Entry) { heap.Fix(h, e.idx) }
func (h *entryHeap) init(es []*Entry) {
	*h = append((*h)[:0], es...)
	for i, e := range *h {
		e.idx = i
	}
	heap.Init(h)
}

// Scheduler holds every schedule of a configuration.
type Scheduler struct {
	loc *time.Location

	mu      sync.Mutex
	entries []*Entry // in configuration order
	byKey   map[string]*Entry
	heap    entryHeap
}

// New builds the schedules of a configuration, in its time zone.
func New(cfg *config.Config) *Scheduler {
	loc := cfg.Scheduler.Location
	if loc == nil {
		loc, _ = time.LoadLocation(config.DefaultTimeZone)
	}
	s := &Scheduler{loc: loc, byKey: map[string]*Entry{}}
	add := func(e *Entry) {
		sched, err := config.CronParser.Parse(e.Cron)
		if err != nil {
			return // the config loader reported it
		}
		e.Sched = sched
		e.Spec = e.Cron
		if e.Offset > 0 {
			e.Spec = fmt.Sprintf("%s jitter %s", e.Cron, e.Offset)
		}
		s.entries = append(s.entries, e)
		s.byKey[e.Key] = e
	}
	primary := ""
	if p := cfg.Primary(); p != nil {
		primary = p.Name
	}
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		if t.Schedule != "" {
			add(&Entry{Key: "backup/" + t.Name, Op: "backup", Target: t.Name, DRC: primary, Cron: t.Schedule,
				Offset: JitterOffset(t.Name, cfg.TargetJitter(t)), CatchUp: t.CatchUp()})
		}
		if dr := cfg.DrillOf(t); dr.Schedule != "" {
			add(&Entry{Key: "drill/" + t.Name, Op: "drill", Target: t.Name, Cron: dr.Schedule,
				Offset: JitterOffset("drill/"+t.Name, cfg.TargetJitter(t)), CatchUp: true})
		}
	}
	for _, dc := range cfg.DRCs {
		if m := dc.Maintenance; m.Prune != "" {
			add(&Entry{Key: "prune/" + dc.Name, Op: "prune", DRC: dc.Name, Cron: m.Prune, CatchUp: true})
		}
		if m := dc.Maintenance; m.Check != "" {
			add(&Entry{Key: "check/" + dc.Name, Op: "check", DRC: dc.Name, Cron: m.Check, CatchUp: true})
		}
	}
	return s
}

// DueSlot is a schedule whose slot came due.
type DueSlot struct {
	Entry  *Entry
	Slot   time.Time
	Reason string
	Missed int // slots it stands for
}

// Load restores each schedule's last slot from the catalog at start. It returns the
// slots missed while the daemon was down (one per schedule) and every state to store.
func (s *Scheduler) Load(now time.Time, states map[string]catalog.ScheduleState) (due []DueSlot, store []catalog.ScheduleState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = now.In(s.loc)
	for _, e := range s.entries {
		st, ok := states[e.Key]
		if !ok || st.Spec != e.Spec || st.Last.After(now) {
			// New, changed, or from the future (the clock went back): start from now.
			e.last, e.next = now, e.Sched.Next(now)
			store = append(store, e.State())
			continue
		}
		e.last, e.next = st.Last.In(s.loc), e.Sched.Next(st.Last.In(s.loc))
		if n, latest := e.dueBy(now); n > 0 {
			e.last, e.next = latest, e.Sched.Next(latest)
			due = append(due, DueSlot{Entry: e, Slot: latest, Reason: ReasonCatchUp, Missed: n})
			store = append(store, e.State())
		}
	}
	s.heap.init(s.entries)
	return due, store
}

// Tick returns the schedules due at now and moves each to its next slot.
func (s *Scheduler) Tick(now time.Time) []DueSlot {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = now.In(s.loc)
	var due []DueSlot
	for len(s.heap) > 0 && !s.heap.top().due().After(now) {
		e := s.heap.top()
		n, latest := e.dueBy(now)
		if n == 0 { // cannot happen: due() is the first slot's due time
			break
		}
		reason := ReasonSchedule
		if n > 1 || now.Sub(latest.Add(e.Offset)) > lateAfter {
			reason = ReasonCatchUp
		}
		e.last, e.next = latest, e.Sched.Next(latest)
		s.heap.fix(e)
		due = append(due, DueSlot{Entry: e, Slot: latest, Reason: reason, Missed: n})
	}
	return due
}

// NextDue returns when the earliest schedule comes due.
func (s *Scheduler) NextDue() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.heap) == 0 || s.heap.top().next.IsZero() {
		return time.Time{}, false
	}
	return s.heap.top().due(), true
}

// Plan lists the slots of every schedule that come due in [from, to), by time.
func (s *Scheduler) Plan(from, to time.Time, limit int) []api.PlannedRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []api.PlannedRun
	for _, e := range s.entries {
		n := 0 // with a limit, an Entry's first `limit` slots are all the top `limit` can hold
		// The first slot whose due time (slot + offset) is at or after from.
		for slot := e.Sched.Next(from.Add(-e.Offset - time.Nanosecond).In(s.loc)); !slot.IsZero() && slot.Add(e.Offset).Before(to); slot = e.Sched.Next(slot) {
			p := api.PlannedRun{Time: slot.Add(e.Offset), Op: e.Op, Target: e.Target, DRC: e.DRC, Status: "planned", Cron: e.Cron}
			if e.Offset > 0 {
				p.Jitter = e.Offset.String()
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

// NextOf returns when a schedule's next slot comes due.
func (s *Scheduler) NextOf(key string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byKey[key]
	if !ok || e.next.IsZero() {
		return time.Time{}, false
	}
	return e.due(), true
}

// Loc is the time zone the schedules are read in (scheduler.timezone).
func (s *Scheduler) Loc() *time.Location { return s.loc }

// Lookup returns the schedule with key, or nil.
func (s *Scheduler) Lookup(key string) *Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byKey[key]
}

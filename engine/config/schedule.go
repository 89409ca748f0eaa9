package config

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones without depending on the host's zoneinfo

	"github.com/robfig/cron/v3"
)

// DefaultTimeZone is where schedules are read when scheduler.timezone is not set: the
// data center's own zone (WIB).
const DefaultTimeZone = "Asia/Jakarta"

// MaxJitter bounds a schedule's jitter.
const MaxJitter = 24 * time.Hour

// Scheduler is the `scheduler:` section: how schedules are read and when scheduled
// work must wait.
type Scheduler struct {
	// TimeZone is the IANA zone schedules, blackout windows and `cadang schedule` use
	// (default Asia/Jakarta).
	TimeZone string `yaml:"timezone"`
	// Jitter is the default of every target's jitter (see Target.Jitter).
	Jitter time.Duration `yaml:"jitter"`
	// Blackout lists maintenance windows during which scheduled runs wait (on-demand
	// runs do not).
	Blackout []Blackout `yaml:"blackout"`

	Location *time.Location `yaml:"-"` // TimeZone, loaded
}

// Blackout is one maintenance window: either a cron start with a duration (every
// Friday 22:00 for 6h), or dates (from 2026-12-24 to 2026-12-26, whole days; or from
// "2026-12-31 20:00" to "2027-01-01 06:00").
type Blackout struct {
	Name     string        `yaml:"name"`     // shown as the reason runs wait
	Start    string        `yaml:"start"`    // cron, 5 fields
	Duration time.Duration `yaml:"duration"` // with start
	From     string        `yaml:"from"`     // a date (2006-01-02) or a time (2006-01-02 15:04)
	To       string        `yaml:"to"`       // a date (inclusive) or a time (exclusive); default: the day of from

	sched    cron.Schedule
	from, to time.Time
}

// Window is one occurrence of a blackout: [Start, End).
type Window struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Label names a window for messages.
func (b *Blackout) Label() string {
	switch {
	case b.Name != "":
		return b.Name
	case b.Start != "":
		return fmt.Sprintf("%q for %s", b.Start, b.Duration)
	}
	return fmt.Sprintf("%s to %s", b.From, b.To)
}

// Windows returns the occurrences of every blackout that overlap [from, to), by start.
func (s *Scheduler) Windows(from, to time.Time) []Window {
	var out []Window
	for i := range s.Blackout {
		out = append(out, s.Blackout[i].windows(from, to, s.Location)...)
	}
	sortWindows(out)
	return out
}

func (b *Blackout) windows(from, to time.Time, loc *time.Location) []Window {
	if b.sched == nil {
		if b.from.IsZero() || !b.from.Before(to) || !b.to.After(from) {
			return nil
		}
		return []Window{{Name: b.Label(), Start: b.from, End: b.to}}
	}
	var out []Window
	// The first start whose window may still be open at from.
	for st := b.sched.Next(from.Add(-b.Duration).In(loc)); st.Before(to); st = b.sched.Next(st) {
		if st.IsZero() || len(out) > 100000 {
			break
		}
		out = append(out, Window{Name: b.Label(), Start: st, End: st.Add(b.Duration)})
	}
	return out
}

func sortWindows(ws []Window) {
	for i := 1; i < len(ws); i++ {
		for j := i; j > 0 && ws[j].Start.Before(ws[j-1].Start); j-- {
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
}

// BlackoutAt reports whether t falls in a blackout window; if so it returns the window,
// with End moved to when no window is open any more (windows that overlap or touch are
// joined).
func (s *Scheduler) BlackoutAt(t time.Time) (Window, bool) {
	if len(s.Blackout) == 0 {
		return Window{}, false
	}
	ws := s.Windows(t, t.Add(time.Nanosecond))
	if len(ws) == 0 {
		return Window{}, false
	}
	w := ws[0]
	for _, x := range ws[1:] {
		if x.End.After(w.End) {
			w.End, w.Name = x.End, x.Name
		}
	}
	for range 1000 { // follow windows that start before (or as) this one ends
		more := s.Windows(w.End, w.End.Add(time.Nanosecond))
		extended := false
		for _, x := range more {
			if x.End.After(w.End) {
				w.End, extended = x.End, true
			}
		}
		if !extended {
			break
		}
	}
	return w, true
}

// date layouts accepted by blackout from/to.
var (
	dateLayout  = "2006-01-02"
	timeLayouts = []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"}
)

// parseWhen reads a blackout date or time in loc; isDate says it was a whole day.
func parseWhen(s string, loc *time.Location) (t time.Time, isDate bool, err error) {
	s = strings.TrimSpace(s)
	if t, err := time.ParseInLocation(dateLayout, s, loc); err == nil {
		return t, true, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, false, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("%q is not a date (2006-01-02) or a time (2006-01-02 15:04)", s)
}

func (s *Scheduler) validate(report func(path, msg string)) {
	if s.TimeZone == "" {
		s.TimeZone = DefaultTimeZone
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil || strings.EqualFold(s.TimeZone, "local") {
		report("scheduler.timezone", fmt.Sprintf("unknown time zone %q (use an IANA name such as Asia/Jakarta, Asia/Makassar or UTC)", s.TimeZone))
		loc = time.UTC
	}
	s.Location = loc
	if s.Jitter < 0 || s.Jitter > MaxJitter {
		report("scheduler.jitter", fmt.Sprintf("must be between 0 and %s", MaxJitter))
	}
	for i := range s.Blackout {
		s.Blackout[i].validate(fmt.Sprintf("scheduler.blackout[%d]", i), loc, report)
	}
}

func (b *Blackout) validate(path string, loc *time.Location, report func(path, msg string)) {
	switch {
	case b.Start != "" && (b.From != "" || b.To != ""):
		report(path, "give start (cron) with duration, or from/to dates, not both")
	case b.Start != "":
		sched, err := CronParser.Parse(b.Start)
		if err != nil {
			report(path+".start", fmt.Sprintf("invalid cron schedule %q: %v", b.Start, err))
		}
		b.sched = sched
		if b.Duration <= 0 {
			report(path+".duration", "required with start: how long the window lasts (e.g. 4h)")
			b.sched = nil
		}
	case b.From != "":
		if b.Duration != 0 {
			report(path+".duration", "only with start: a from/to window ends at to")
		}
		from, fromDate, err := parseWhen(b.From, loc)
		if err != nil {
			report(path+".from", err.Error())
			return
		}
		to, toDate := from, fromDate
		if b.To != "" {
			if to, toDate, err = parseWhen(b.To, loc); err != nil {
				report(path+".to", err.Error())
				return
			}
		} else if !fromDate {
			report(path+".to", "required when from is a time")
			return
		}
		if toDate {
			to = to.AddDate(0, 0, 1) // a date is the whole day
		}
		if !to.After(from) {
			report(path+".to", fmt.Sprintf("%q is not after from %q", b.To, b.From))
			return
		}
		b.from, b.to = from, to
	default:
		report(path, "give start (cron) with duration, or from (and to) dates")
	}
}

// TargetJitter returns a target's jitter: its own, else scheduler.jitter.
func (c *Config) TargetJitter(t *Target) time.Duration {
	if t.Jitter != nil {
		return *t.Jitter
	}
	return c.Scheduler.Jitter
}

// CatchUp reports whether a target's missed scheduled runs are made up (default yes).
func (t *Target) CatchUp() bool { return t.Catchup == nil || *t.Catchup }

// validateSchedules checks the schedule settings of targets and DRCs.
func (c *Config) validateSchedules(report func(path, msg string)) {
	for i := range c.Targets {
		t := &c.Targets[i]
		path := fmt.Sprintf("targets[%d]", i)
		if t.Jitter != nil && (*t.Jitter < 0 || *t.Jitter > MaxJitter) {
			report(path+".jitter", fmt.Sprintf("must be between 0 and %s", MaxJitter))
		}
		if t.Schedule == "" && t.Jitter != nil {
			report(path+".jitter", "has no effect without schedule")
		}
	}
	for i := range c.DRCs {
		m := &c.DRCs[i].Maintenance
		path := fmt.Sprintf("drcs[%d].maintenance", i)
		for field, spec := range map[string]string{"prune": m.Prune, "check": m.Check} {
			if spec == "" {
				continue
			}
			sched, err := CronParser.Parse(spec)
			if err != nil {
				report(path+"."+field, fmt.Sprintf("invalid cron schedule %q: %v", spec, err))
				continue
			}
			if field == "check" {
				m.CheckEvery = longestGap(sched)
			}
		}
	}
}

// longestGap is the longest time between two runs of a schedule over a year from a
// fixed date: in any period that long or longer, the schedule runs at least once. (It
// is worked out here, while the configuration is read, because the cron parser lives
// in this package; drc.Maintenance.Parts uses it.)
func longestGap(s cron.Schedule) time.Duration {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := t.AddDate(1, 0, 0)
	prev := s.Next(t)
	var gap time.Duration
	for i := 0; i < 2000 && !prev.IsZero() && prev.Before(end); i++ {
		next := s.Next(prev)
		if next.IsZero() {
			break
		}
		gap = max(gap, next.Sub(prev))
		prev = next
	}
	return gap
}

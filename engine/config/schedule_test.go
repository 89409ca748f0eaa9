package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const scheduled = `state_dir: /s
scheduler:
  timezone: Asia/Makassar
  jitter: 20m
  blackout:
    - {name: network maintenance, start: "0 22 * * 5", duration: 6h}
    - {name: year end, from: 2026-12-30, to: 2026-12-31}
    - {from: "2026-11-30 23:00", to: "2026-12-01 01:30"}
drcs:
  - name: local
    role: primary
    path: /srv/local
    concurrency: 3
    maintenance: {prune: "0 3 * * 0", check: "30 4 * * *", read_data_subset: 5%}
  - {name: offsite, role: secondary, path: /srv/off}
agencies: [{id: dinkes}]
targets:
  - {name: a, agency: dinkes, kind: files, files: {paths: [/a]}, schedule: "0 2 * * *"}
  - {name: b, agency: dinkes, kind: files, files: {paths: [/b]}, schedule: "0 2 * * *", jitter: 0s, catchup: false}
`

func TestSchedulerSection(t *testing.T) {
	cfg, err := Parse("cadang.yaml", []byte(scheduled))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Scheduler
	if s.Location == nil || s.Location.String() != "Asia/Makassar" || s.Jitter != 20*time.Minute {
		t.Fatalf("scheduler: %+v", s)
	}
	a, _ := cfg.Target("a")
	b, _ := cfg.Target("b")
	if cfg.TargetJitter(a) != 20*time.Minute || cfg.TargetJitter(b) != 0 || !a.CatchUp() || b.CatchUp() {
		t.Errorf("jitter a=%s b=%s, catch-up a=%v b=%v", cfg.TargetJitter(a), cfg.TargetJitter(b), a.CatchUp(), b.CatchUp())
	}
	local := cfg.DRCs[0]
	if local.Concurrency != 3 || local.Maintenance.Prune != "0 3 * * 0" || local.Maintenance.ReadDataSubset != "5%" {
		t.Errorf("drc local: %+v", local)
	}

	loc := s.Location
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		when   string
		active bool
		until  string
		name   string
	}{
		{"2026-11-27 21:59", false, "", ""}, // a Friday, before the window
		{"2026-11-27 22:00", true, "2026-11-28 04:00", "network maintenance"},
		{"2026-11-28 03:59", true, "2026-11-28 04:00", "network maintenance"},
		{"2026-11-28 04:00", false, "", ""},                // the end is not in the window
		{"2026-11-30 23:30", true, "2026-12-01 01:30", ""}, // from/to times
		{"2026-12-30 00:00", true, "2027-01-01 00:00", "year end"},
		{"2026-12-31 23:59", true, "2027-01-01 00:00", "year end"}, // "to" is a whole day
		{"2027-01-01 00:00", false, "", ""},
	} {
		w, ok := s.BlackoutAt(at(tc.when))
		if ok != tc.active {
			t.Errorf("%s: in a blackout = %v, want %v (%+v)", tc.when, ok, tc.active, w)
			continue
		}
		if ok && (!w.End.Equal(at(tc.until)) || (tc.name != "" && w.Name != tc.name)) {
			t.Errorf("%s: window %s until %s, want %q until %s", tc.when, w.Name, w.End.In(loc), tc.name, tc.until)
		}
	}
	if ws := s.Windows(at("2026-11-27 00:00"), at("2026-12-05 00:00")); len(ws) != 3 {
		t.Errorf("windows in 8 days: %+v", ws)
	}
}

// Windows that overlap or touch join into one: the end is when none is open.
func TestBlackoutWindowsJoin(t *testing.T) {
	src := strings.Replace(scheduled, `    - {name: year end, from: 2026-12-30, to: 2026-12-31}`,
		`    - {name: saturday, start: "0 4 * * 6", duration: 2h}`, 1)
	cfg, err := Parse("cadang.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	loc := cfg.Scheduler.Location
	w, ok := cfg.Scheduler.BlackoutAt(time.Date(2026, 11, 27, 23, 0, 0, 0, loc))
	if !ok || !w.End.Equal(time.Date(2026, 11, 28, 6, 0, 0, 0, loc)) {
		t.Errorf("joined window: %v %+v", ok, w)
	}
}

func TestDefaultTimeZone(t *testing.T) {
	cfg, err := Parse("cadang.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Scheduler.Location.String() != "Asia/Jakarta" || cfg.Scheduler.TimeZone != DefaultTimeZone {
		t.Errorf("default zone: %v", cfg.Scheduler.Location)
	}
	if _, ok := cfg.Scheduler.BlackoutAt(time.Now()); ok {
		t.Error("no blackout configured, yet one is open")
	}
}

func TestScheduleProblems(t *testing.T) {
	src := `state_dir: /s
scheduler:
  timezone: Asia/Jakartaa
  jitter: -5m
  blackout:
    - {start: "0 22 * * 5"}
    - {start: "0 22 * * 5", duration: 1h, from: 2026-01-01}
    - {from: 2026-02-30}
    - {from: 2026-03-02, to: 2026-03-01}
    - {from: "2026-03-02 10:00"}
    - {name: nothing}
drcs:
  - name: local
    role: primary
    path: /l
    concurrency: -1
    maintenance: {prune: "0 3 * *", check: "@weekly", read_data_subset: "5"}
  - {name: off, role: secondary, path: /o, maintenance: {read_data_subset: 0.01%}}
agencies: [{id: x}]
targets:
  - {name: t, agency: x, kind: files, files: {paths: [/t]}, jitter: 48h, schedule: "@daily"}
  - {name: u, agency: x, kind: files, files: {paths: [/u]}, jitter: 5m, catchup: maybe}
`
	want := []string{
		`cadang.yaml:3:13: scheduler.timezone: unknown time zone "Asia/Jakartaa" (use an IANA name such as Asia/Jakarta, Asia/Makassar or UTC)`,
		`cadang.yaml:4:11: scheduler.jitter: invalid duration "-5m" (use 30s, 5m, 2h, 7d)`,
		`cadang.yaml:6:7: scheduler.blackout[0].duration: required with start: how long the window lasts (e.g. 4h)`,
		`cadang.yaml:7:7: scheduler.blackout[1]: give start (cron) with duration, or from/to dates, not both`,
		`cadang.yaml:8:14: scheduler.blackout[2].from: "2026-02-30" is not a date (2006-01-02) or a time (2006-01-02 15:04)`,
		`cadang.yaml:9:30: scheduler.blackout[3].to: "2026-03-01" is not after from "2026-03-02"`,
		`cadang.yaml:10:7: scheduler.blackout[4].to: required when from is a time`,
		`cadang.yaml:11:7: scheduler.blackout[5]: give start (cron) with duration, or from (and to) dates`,
		`cadang.yaml:16:18: drc "local": concurrency: must not be negative (0: only daemon.concurrency applies)`,
		`cadang.yaml:17:26: drc "local": maintenance.prune: invalid cron schedule "0 3 * *": expected exactly 5 fields, found 4: [0 3 * *]`,
		`cadang.yaml:17:73: drc "local": maintenance.read_data_subset: "5": give a percentage such as 5%`,
		`cadang.yaml:18:76: drc "off": maintenance.read_data_subset: "0.01%" is less than 0.1%: every pack would be read only once every 10000 checks`,
		`cadang.yaml:21:69: target "t": jitter: must be between 0 and 24h0m0s`,
		`cadang.yaml:22:69: target "u": jitter: has no effect without schedule`,
		`cadang.yaml:22:82: target "u": catchup: expected true or false, found "maybe"`,
	}
	_, err := Parse("cadang.yaml", []byte(src))
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want *Error, got %v", err)
	}
	if got := cerr.Error(); got != strings.Join(want, "\n") {
		t.Errorf("problems:\n got: %s\nwant: %s", strings.ReplaceAll(got, "\n", "\n      "), strings.Join(want, "\n      "))
	}
}

// Without read_data_subset the checks read all the data within read_all_within (30
// days by default), in as many parts as checks surely run in that period.
func TestCheckRotationFromTheSchedule(t *testing.T) {
	src := `state_dir: /s
drcs:
  - {name: local, role: primary, path: /l, maintenance: {check: "30 4 * * *"}}
  - {name: off, role: secondary, path: /o, maintenance: {check: "0 5 * * 1,4", read_all_within: 14d}}
  - {name: far, role: secondary, path: /f, maintenance: {check: "@monthly"}}
  - {name: none, role: secondary, path: /n}
  - {name: fixed, role: secondary, path: /x, maintenance: {check: "@daily", read_data_subset: 5%}}
agencies: [{id: x}]
`
	cfg, err := Parse("cadang.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	// daily: 30 parts; Monday and Thursday (longest gap 4 days) within 14 days: 3;
	// monthly (longest gap 31 days) within 30 days: every check reads everything.
	for i, want := range []int{30, 3, 1, 0, 20} {
		d := cfg.DRCs[i]
		if got, err := d.Maintenance.Parts(); err != nil || got != want {
			t.Errorf("drc %s: %d parts (%v), want %d (check every %s)", d.Name, got, err, want, d.Maintenance.CheckEvery)
		}
	}
	bad := `state_dir: /s
drcs:
  - {name: local, role: primary, path: /l, maintenance: {read_all_within: 7d}}
  - {name: off, role: secondary, path: /o, maintenance: {check: "@daily", read_all_within: 7d, read_data_subset: 5%}}
agencies: [{id: x}]
`
	_, err = Parse("cadang.yaml", []byte(bad))
	for _, want := range []string{
		`cadang.yaml:3:75: drc "local": maintenance.read_all_within: has no effect without maintenance.check`,
		`cadang.yaml:4:92: drc "off": maintenance.read_all_within: give read_data_subset or read_all_within, not both`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %s in:\n%v", want, err)
		}
	}
}

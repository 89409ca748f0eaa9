package runbooks

import (
	"fmt"
	"time"
	_ "time/tzdata" // zones without depending on the host's zoneinfo
)

// DefaultTimeZone is the zone of reports that name none: the data center's (WIB).
const DefaultTimeZone = "Asia/Jakarta"

// zoneLabels are Indonesia's zone names: WIB (UTC+7), WITA (UTC+8), WIT (UTC+9).
var zoneLabels = map[string]string{
	"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB",
	"Asia/Makassar": "WITA", "Asia/Ujung_Pandang": "WITA",
	"Asia/Jayapura": "WIT",
}

// ZoneLabel is how a report labels times in zone loc: WIB, WITA or WIT for the zones
// of Indonesia, otherwise the offset from UTC at t ("UTC+08:00", "UTC").
func ZoneLabel(loc *time.Location, t time.Time) string {
	if l, ok := zoneLabels[loc.String()]; ok {
		return l
	}
	_, off := t.In(loc).Zone()
	if off == 0 {
		return "UTC"
	}
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("UTC%c%02d:%02d", sign, off/3600, off%3600/60)
}

// location is the report's zone: TimeZone, or DefaultTimeZone when it is empty or
// unknown.
func (r *Report) location() *time.Location {
	if r.TimeZone != "" {
		if loc, err := time.LoadLocation(r.TimeZone); err == nil {
			return loc
		}
	}
	loc, _ := time.LoadLocation(DefaultTimeZone)
	return loc
}

// localize moves every time of the report into its zone, so that the JSON carries
// the zone's offset and the pages print the zone's clock.
func (r *Report) localize() {
	loc := r.location()
	r.TimeZone = loc.String()
	in := func(t *time.Time) {
		if !t.IsZero() {
			*t = t.In(loc)
		}
	}
	in(&r.Generated)
	in(&r.Period.From)
	in(&r.Period.To)
	for i := range r.Results {
		res := &r.Results[i]
		in(&res.SnapshotTime)
		in(&res.Started)
		in(&res.Ended)
		for j := range res.Steps {
			in(&res.Steps[j].Started)
			in(&res.Steps[j].Ended)
		}
	}
	for i := range r.Trend {
		in(&r.Trend[i].Time)
	}
}

// zoneLabel labels the report's times (see ZoneLabel).
func (r *Report) zoneLabel() string {
	t := r.Generated
	if len(r.Results) > 0 {
		t = r.Results[0].Started
	}
	return ZoneLabel(r.location(), t)
}

package drc

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Replication is the `replication:` section of a secondary DRC: how the primary's
// repositories are mirrored to it. Every field is optional.
//
//	replication:
//	  workers: 8            # parallel object transfers (default 8)
//	  bandwidth: 20MiB/s    # cap on the link to this DRC, both ways (default: none)
//	  interval: 5m          # background pass: new objects, retries, due deletions (default 5m)
//	  max_lag: 1h           # objective: report when a snapshot waits longer than this (default: none)
//	  delete_after: 7d      # grace before a deletion at the primary reaches this DRC (default 7d)
//	  overlap: true         # copy a backup's finished packs here while it runs (default true)
type Replication struct {
	Workers     int           `yaml:"workers"`
	Bandwidth   Rate          `yaml:"bandwidth"`
	Interval    time.Duration `yaml:"interval"`
	MaxLag      time.Duration `yaml:"max_lag"`
	DeleteAfter time.Duration `yaml:"delete_after"`
	// Overlap: while a backup writes at the primary, the packs restic has finished are
	// copied here (nil: true); false leaves everything to the pass after the backup.
	Overlap *bool `yaml:"overlap"`
}

// Overlaps reports whether a backup's finished packs are copied to this DRC while the
// backup runs.
func (r Replication) Overlaps() bool { return r.Overlap == nil || *r.Overlap }

// Replication defaults.
const (
	DefaultWorkers     = 8
	DefaultInterval    = 5 * time.Minute
	DefaultDeleteAfter = 7 * 24 * time.Hour
)

// Effective returns the settings with defaults filled in.
func (r Replication) Effective() Replication {
	if r.Workers == 0 {
		r.Workers = DefaultWorkers
	}
	if r.Interval == 0 {
		r.Interval = DefaultInterval
	}
	if r.DeleteAfter == 0 {
		r.DeleteAfter = DefaultDeleteAfter
	}
	return r
}

func (r *Replication) validate(report func(field, msg string)) {
	if r.Workers < 0 || r.Workers > 64 {
		report("workers", fmt.Sprintf("%d: give 1 to 64 parallel transfers", r.Workers))
	}
	if r.Bandwidth < 0 {
		report("bandwidth", "must not be negative")
	}
	if r.Interval < 0 || (r.Interval > 0 && r.Interval < time.Second) {
		report("interval", fmt.Sprintf("%s: give at least 1s", r.Interval))
	}
	if r.MaxLag < 0 {
		report("max_lag", "must not be negative")
	}
	if r.DeleteAfter < 0 {
		report("delete_after", "must not be negative (deletions never reach a secondary at once)")
	}
}

// Rate is a transfer rate in bytes per second. In cadang.yaml it is written with a
// unit: 500KB/s, 20MiB/s, 100Mbit/s (or 100Mbps); a plain number is bytes per second.
type Rate int64

var rateUnits = []struct {
	suffix string
	factor float64
}{
	// Longest first, so that "MiB" is not read as "B".
	{"kbit", 1e3 / 8}, {"mbit", 1e6 / 8}, {"gbit", 1e9 / 8},
	{"kbps", 1e3 / 8}, {"mbps", 1e6 / 8}, {"gbps", 1e9 / 8},
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9},
	{"b", 1},
}

// UnmarshalText parses a rate such as 20MiB/s.
func (r *Rate) UnmarshalText(b []byte) error {
	s := strings.ToLower(strings.TrimSpace(string(b)))
	s = strings.TrimSpace(strings.TrimSuffix(s, "/s"))
	factor := 1.0
	for _, u := range rateUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, factor = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.factor
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v*factor > 1e15 {
		return fmt.Errorf("invalid rate %q (use e.g. 500KB/s, 20MiB/s, 100Mbit/s)", string(b))
	}
	*r = Rate(v * factor)
	return nil
}

// String prints the rate in IEC units per second.
func (r Rate) String() string {
	switch {
	case r <= 0:
		return "unlimited"
	case r >= 1<<30:
		return fmt.Sprintf("%.1fGiB/s", float64(r)/(1<<30))
	case r >= 1<<20:
		return fmt.Sprintf("%.1fMiB/s", float64(r)/(1<<20))
	case r >= 1<<10:
		return fmt.Sprintf("%.1fKiB/s", float64(r)/(1<<10))
	}
	return fmt.Sprintf("%dB/s", int64(r))
}

package drc

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Maintenance is the `maintenance:` section of a DRC: when its repositories are pruned
// and checked. The schedules are 5-field cron specs that engine/config validates.
type Maintenance struct {
	// Prune is when `restic prune` runs on every agency's repository at this DRC
	// (removing the data that retention's `restic forget` left unreferenced).
	Prune string `yaml:"prune"`
	// Check is when `restic check` runs on every agency's repository at this DRC.
	Check string `yaml:"check"`
	// ReadDataSubset is how much of the data each check reads back, as a percentage
	// ("5%"). The data is split into ceil(100/x) parts and each check reads the next
	// part, so every pack is read once every ceil(100/x) checks. Empty or "0%": checks
	// read only the structure (index, snapshots, trees), not the data.
	ReadDataSubset string `yaml:"read_data_subset"`
}

// MaxSubsetParts bounds the parts a check rotation has (restic accepts n/t with t at
// most 65536; 1000 parts is 0.1% a check).
const MaxSubsetParts = 1000

// ParseSubset turns a read_data_subset value into the number of parts the data is
// split into: "5%" is 20 parts, "3%" is 34 (each part at most 3%), "100%" is 1 (all
// data every check), "" or "0%" is 0 (no data read).
func ParseSubset(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	num, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, fmt.Errorf("%q: give a percentage such as 5%%", s)
	}
	p, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	switch {
	case err != nil || math.IsNaN(p) || p < 0 || p > 100:
		return 0, fmt.Errorf("%q: give a percentage from 0%% to 100%%", s)
	case p == 0:
		return 0, nil
	}
	parts := int(math.Ceil(100/p - 1e-9))
	if parts > MaxSubsetParts {
		return 0, fmt.Errorf("%q is less than %.1f%%: every pack would be read only once every %d checks", s, 100.0/MaxSubsetParts, parts)
	}
	return parts, nil
}

// validateMaintenance checks what drc itself can check of the maintenance and limit
// settings; the cron specs are checked by engine/config, which owns the cron parser.
func (c *Config) validateMaintenance(report func(field, msg string)) {
	if c.Concurrency < 0 {
		report("concurrency", "must not be negative (0: only daemon.concurrency applies)")
	}
	if _, err := ParseSubset(c.Maintenance.ReadDataSubset); err != nil {
		report("maintenance.read_data_subset", err.Error())
	}
}

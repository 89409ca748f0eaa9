package drc

import (
	"fmt"
	"time"
)

// Immutability is the `immutability:` section of an S3 DRC: every object cadang writes
// there carries an S3 Object Lock retention date, so that nobody holding the DRC's keys
// (an attacker with root on cadang's host included) can erase or overwrite it before
// that date (docs/ransomware.md).
//
//	immutability:
//	  mode: compliance   # or governance (a key with s3:BypassGovernanceRetention can lift it)
//	  retain: 30d        # each object stays locked at least this long, plus delete_after
type Immutability struct {
	Mode   string        `yaml:"mode"`
	Retain time.Duration `yaml:"retain"`
}

// Immutability modes (those of S3 Object Lock).
const (
	ModeCompliance = "compliance"
	ModeGovernance = "governance"
)

// MinRetain is the shortest retention accepted.
const MinRetain = 24 * time.Hour

func (im *Immutability) validate(report func(field, msg string)) {
	switch im.Mode {
	case ModeCompliance, ModeGovernance:
	case "":
		report("mode", "required: compliance or governance")
	default:
		report("mode", fmt.Sprintf("%q is not a mode: use compliance or governance", im.Mode))
	}
	if im.Retain < MinRetain {
		report("retain", fmt.Sprintf("%s: give at least 1d", im.Retain))
	}
}

// Immutable reports whether the DRC is configured immutable.
func (c *Config) Immutable() bool { return c.Immutability != nil && c.S3 != nil }

// LockPeriod is how long an object written (or extended) now at the DRC stays locked:
// the retention plus the DRC's deletion grace, so that an object the primary no longer
// has is still locked through the whole grace. Zero if the DRC is not immutable.
func (c *Config) LockPeriod() time.Duration {
	if !c.Immutable() {
		return 0
	}
	return c.Immutability.Retain + c.Replication.Effective().DeleteAfter
}

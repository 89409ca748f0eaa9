package dbdump

import (
	"fmt"
	"time"
)

// The modes of a database target (mode:): every backup a dump, or continuous
// protection, a full backup now and then and the server's log archived in between
// (docs/continuous.md).
const (
	ModeDump       = "dump"
	ModeContinuous = "continuous"
)

// CheckMode checks a database target's mode: and archive_interval:, and all:, which
// continuous mode does not take (allWhy says why); hint follows a too-short interval's
// message.
func CheckMode(mode string, all bool, interval time.Duration, allWhy, hint string, report func(field, msg string)) {
	switch mode {
	case "", ModeDump:
		if interval != 0 {
			report("archive_interval", "only with mode: continuous")
		}
	case ModeContinuous:
		if all {
			report("all", allWhy)
		}
		if interval < 0 || (interval > 0 && interval < time.Second) {
			report("archive_interval", fmt.Sprintf("%s: give 1s or more%s", interval, hint))
		}
	default:
		report("mode", fmt.Sprintf("%q is not a mode: use dump or continuous", mode))
	}
}

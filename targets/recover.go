package targets

import (
	"context"
	"log/slog"
)

// Recoverer is implemented by kinds whose backups leave things outside the repository
// while they run: a hypervisor's backup job, a checkpoint, scratch files in a folder
// of the kind's own. A daemon killed with -9 (or a power cut) cannot remove them. The
// daemon calls Recover once for each target at start, before any of its runs starts:
// the kind finds what backups of a cadang process that no longer exists left behind
// and ends or removes it, logging each thing it removes. What a live process (another
// daemon on the same host) still uses is left alone. An error is logged; it does not
// stop the daemon.
type Recoverer interface {
	Recover(ctx context.Context, log *slog.Logger) error
}

package runs

import (
	"context"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/queue"
)

// Unlocking on demand (`cadang unlock`): an unlock run per agency's repository at a
// DRC, through the queue like a prune (it needs the repository alone, so no run of
// this daemon uses it meanwhile); which locks go is engine/lease's judgement.

// Unlock is an unlock run on demand.
func (x *Runner) Unlock(ctx context.Context, j *queue.Job, site *drc.Site, all bool) error {
	repo, ok, err := x.openForMaintenance(ctx, j, site)
	if err != nil || !ok {
		return err
	}
	return x.leases.Unlock(ctx, j, repo, all)
}

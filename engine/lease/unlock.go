package lease

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/queue"
)

// Unlocking on demand (`cadang unlock`): the daemon queues an unlock run per agency's
// repository at a DRC, through the queue like a prune (it needs the repository alone,
// so no run of this daemon uses it meanwhile), and the run body calls Unlock.
//
// Without all, a lock is removed only when it is proven stale: by cadang's leases
// (lease.go: a restic cadang started, now dead), or by restic's own rule, the one
// `restic unlock` applies: a lock not refreshed for 30 minutes (a live restic
// refreshes its locks every 5 minutes), or a lock of this host whose process no
// longer exists. With all, every lock goes, whoever holds it (`restic unlock
// --remove-all`): the operator has said the holders are gone. Every removal is
// written into the run's notes and logged at warning level, with who asked.

// resticStaleAfter is restic's own staleness timeout (internal/restic/lock.go).
const resticStaleAfter = 30 * time.Minute

// Unlock clears repo's locks for the unlock run j (see above).
func (m *Manager) Unlock(ctx context.Context, j *queue.Job, repo *drc.Repo, all bool) error {
	r := j.Run
	j.SetProgress(func(p *api.Progress) { p.Phase = "clearing locks" })
	removed, kept, err := m.ClearStale(ctx, repo)
	if err != nil {
		return err
	}
	for _, l := range removed {
		r.Notes = append(r.Notes, fmt.Sprintf("removed stale %s (a restic cadang started, now gone)", l))
	}
	var left []string
	removedAny := len(removed) > 0
	for _, v := range kept {
		why := ""
		switch {
		case all:
			why = "--all"
		case m.now().Sub(v.Lock.Time) > resticStaleAfter:
			why = fmt.Sprintf("not refreshed for %s (restic refreshes a live lock every 5 minutes)", m.now().Sub(v.Lock.Time).Round(time.Minute))
		case v.Lock.Hostname == m.Host && !pidExists(v.Lock.PID) && (v.Lease == nil || !m.InUse(v.Lease)):
			why = "its process no longer exists on this host"
		}
		if why == "" {
			left = append(left, fmt.Sprintf("%s (%s)", v.Lock, v.Why))
			continue
		}
		if err := repo.RemoveLock(ctx, v.Lock.ID); err != nil {
			return err
		}
		removedAny = true
		r.Notes = append(r.Notes, fmt.Sprintf("removed %s: %s", v.Lock, why))
		m.log.Warn("removed a restic lock on request", "drc", repo.DRC, "agency", repo.Agency, "lock", v.Lock.ID,
			"pid", v.Lock.PID, "host", v.Lock.Hostname, "since", v.Lock.Time, "why", why, "run", r.ID, "notes", strings.Join(r.Notes, "; "))
	}
	if len(left) > 0 {
		return fmt.Errorf("%d lock(s) not proven stale, kept: %s; `cadang unlock --all` removes them once you know their holders are gone",
			len(left), strings.Join(left, "; "))
	}
	if !removedAny {
		r.Notes = append(r.Notes, "no lock")
	}
	return nil
}

// pidExists reports whether a process with this pid exists on this host (restic's
// processExists: signal 0 succeeds); a zombie counts as gone.
func pidExists(pid int) bool {
	_, alive := ProcStat(pid)
	return alive
}

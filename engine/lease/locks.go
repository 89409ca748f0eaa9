package lease

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
)

// Verdict says what cadang makes of one restic lock.
type Verdict struct {
	Lock  drc.Lock
	Stale bool   // provably left by a dead restic of cadang: it may be removed
	Why   string // why it stays, for messages
	Lease *catalog.Lease
}

// judge decides, for every lock of a repository, whether it is cadang's and dead.
func (m *Manager) judge(locks []drc.Lock, leases []catalog.Lease) []Verdict {
	out := make([]Verdict, 0, len(locks))
	for _, l := range locks {
		v := Verdict{Lock: l}
		switch {
		case l.Hostname != m.Host:
			v.Why = "another host's lock: cadang never removes it"
		default:
			// Stale only if some lease proves it and none says otherwise (a pid may
			// have been reused by a later run).
			for i := range leases {
				ls := &leases[i]
				for _, p := range ls.Restic {
					if p.PID != l.PID || ls.Host != m.Host {
						continue
					}
					why := ""
					switch {
					case m.InUse(ls):
						why = fmt.Sprintf("held by run %d, which is running", ls.Run)
					case m.procAlive(ls.Boot, p):
						why = fmt.Sprintf("restic of run %d still runs (left by a cadang daemon that stopped; it ends on its own)", ls.Run)
					case l.Time.Before(ls.Started.Add(-time.Minute)):
						why = fmt.Sprintf("older than run %d that had this pid", ls.Run)
					}
					if v.Lease == nil || v.Stale {
						v.Lease, v.Stale, v.Why = ls, why == "", why
					}
				}
			}
			if v.Lease == nil {
				v.Why = "not a restic process cadang started"
				if _, alive := ProcStat(l.PID); alive {
					v.Why = "held by a live process on this host that cadang did not start"
				}
			}
		}
		out = append(out, v)
	}
	return out
}

// ClearStale removes the locks of repo that are provably cadang's and dead (see
// above) and forgets the leases nothing can hold any more. It returns the locks it
// removed and those it left, with why.
func (m *Manager) ClearStale(ctx context.Context, repo *drc.Repo) (removed []drc.Lock, kept []Verdict, err error) {
	leases, err := m.cat.Leases(repo.DRC, repo.Agency)
	if err != nil {
		return nil, nil, fmt.Errorf("catalog: %w", err)
	}
	locks, err := repo.Locks(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, v := range m.judge(locks, leases) {
		if !v.Stale {
			kept = append(kept, v)
			continue
		}
		if err := repo.RemoveLock(ctx, v.Lock.ID); err != nil {
			return removed, kept, err
		}
		removed = append(removed, v.Lock)
		m.log.Warn("removed a stale restic lock left by a cadang run whose restic is gone",
			"drc", repo.DRC, "agency", repo.Agency, "lock", v.Lock.ID, "pid", v.Lock.PID, "host", v.Lock.Hostname,
			"since", v.Lock.Time, "run", v.Lease.Run, "op", v.Lease.Op)
	}
	// A lease no run uses and whose restics are all gone has nothing left to prove.
	for i := range leases {
		ls := &leases[i]
		if m.InUse(ls) {
			continue
		}
		gone := true
		for _, p := range ls.Restic {
			if ls.Host == m.Host && m.procAlive(ls.Boot, p) {
				gone = false
			}
		}
		if gone {
			if err := m.cat.DeleteLease(ls.DRC, ls.Agency, ls.Run); err != nil {
				return removed, kept, fmt.Errorf("catalog: %w", err)
			}
		}
	}
	return removed, kept, nil
}

// LockedError is a run that could not lock a repository: it names who holds it.
type LockedError struct {
	DRC, Agency string
	Locks       []Verdict
	Err         error
}

func (e *LockedError) Error() string {
	var parts []string
	for _, v := range e.Locks {
		parts = append(parts, fmt.Sprintf("%s (%s)", v.Lock, v.Why))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("the repository of agency %q at drc %q is locked: %v", e.Agency, e.DRC, e.Err)
	}
	return fmt.Sprintf("the repository of agency %q at drc %q is locked: %s", e.Agency, e.DRC, strings.Join(parts, "; "))
}

func (e *LockedError) Unwrap() error { return e.Err }

// WithLocks runs op; if restic finds the repository locked, it removes the locks that
// are provably cadang's and dead and tries once more, else it fails naming who holds
// the repository.
func (m *Manager) WithLocks(ctx context.Context, repo *drc.Repo, op func() error) error {
	err := op()
	if !errors.Is(err, drc.ErrLocked) || ctx.Err() != nil {
		return err
	}
	removed, kept, cerr := m.ClearStale(ctx, repo)
	if cerr != nil {
		m.log.Error("cannot inspect the repository's locks", "drc", repo.DRC, "agency", repo.Agency, "err", cerr)
		return err
	}
	if len(removed) > 0 {
		if err = op(); !errors.Is(err, drc.ErrLocked) {
			return err
		}
		if _, kept, cerr = m.ClearStale(ctx, repo); cerr != nil {
			return err
		}
	}
	return &LockedError{DRC: repo.DRC, Agency: repo.Agency, Locks: kept, Err: err}
}

// Recover is the recovery run (op unlock) queued at start for a repository on which
// runs of an earlier daemon left leases (it died, or a shutdown interrupted them): it
// waits a little for their restic processes to end (a restic whose daemon died stops
// at its next write), then removes the locks they left.
func (m *Manager) Recover(ctx context.Context, j *queue.Job, site *drc.Site, agency string) error {
	r := j.Run
	repo := site.Repo(agency)
	deadline := m.now().Add(recoveryWait)
	for {
		leases, err := m.cat.Leases(site.Name, agency)
		if err != nil {
			return err
		}
		alive := 0
		for i := range leases {
			if leases[i].Run == r.ID || m.InUse(&leases[i]) {
				continue
			}
			for _, p := range leases[i].Restic {
				if leases[i].Host == m.Host && m.procAlive(leases[i].Boot, p) {
					alive++
				}
			}
		}
		if alive == 0 || !m.now().Before(deadline) {
			break
		}
		j.SetProgress(func(p *api.Progress) {
			p.Phase = fmt.Sprintf("waiting for %d restic processes of the stopped daemon", alive)
		})
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	j.SetProgress(func(p *api.Progress) { p.Phase = "clearing stale locks" })
	if err := site.Check(ctx); err != nil {
		return err
	}
	removed, kept, err := m.ClearStale(ctx, repo)
	for _, l := range removed {
		r.Notes = append(r.Notes, fmt.Sprintf("removed stale %s", l))
	}
	for _, v := range kept {
		r.Notes = append(r.Notes, fmt.Sprintf("kept %s: %s", v.Lock, v.Why))
	}
	if err == nil && len(removed) == 0 && len(kept) == 0 {
		r.Notes = append(r.Notes, "no lock left behind")
	}
	return err
}

// recoveryWait bounds how long the recovery run waits for restic processes of a
// daemon that died.
const recoveryWait = time.Minute

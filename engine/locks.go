package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
)

// Leases and restic's locks.
//
// restic guards a repository with lock objects (locks/<id>, naming host, pid and time).
// A restic that is killed (the daemon killed with SIGKILL, a restic that did not stop
// within its grace) leaves its lock behind, and an exclusive operation (forget, prune,
// check) then fails on it for ever. `restic unlock` would remove it, but also any lock
// older than 30 minutes, whoever holds it: on a repository two DRC hosts may use, that
// is not safe.
//
// So cadang keeps a lease in the catalog for every run that uses a repository: the
// daemon's host, boot id, pid and process start, and each restic process the run
// started (pid and start). A restic lock is removed only when it is provably cadang's
// and dead: the lock's host is this host, its pid is a restic that a run of a daemon
// that is gone (or of a run that ended) started, and that process no longer exists
// (or the machine rebooted since). Every other lock stays, and a run that fails on it
// names its holder.

// process identity on Linux: a pid and its start time after boot (in clock ticks)
// name one process; the boot id tells whether the machine rebooted since.

// procStat returns a process's start time and whether it is alive (a zombie is not).
func procStat(pid int) (start uint64, alive bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces and parentheses
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state); starttime is field 22
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	start, _ = strconv.ParseUint(f[19], 10, 64)
	return start, true
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procAlive reports whether p, recorded on this host during boot, still runs.
func (d *Daemon) procAlive(boot string, p catalog.Proc) bool {
	if d.boot == "" {
		return true // without /proc nothing can be proved dead
	}
	if boot != d.boot {
		return false // the machine rebooted since
	}
	start, alive := procStat(p.PID)
	return alive && (p.Start == 0 || start == p.Start)
}

// leaseInUse reports whether a lease belongs to a run this daemon executes now.
func (d *Daemon) leaseInUse(l *catalog.Lease) bool {
	if !l.Ended.IsZero() || l.Host != d.host {
		return false
	}
	if l.Daemon == d.self && l.Boot == d.boot {
		return d.queue.Get(l.Run) != nil
	}
	return d.procAlive(l.Boot, l.Daemon)
}

// acquireLease records that j uses its repository, and returns the context its restic
// commands run with: each restic started is added to the lease.
func (d *Daemon) acquireLease(j *queue.Job) context.Context {
	drcName, agency, ok := strings.Cut(j.Uses.Repo, "/")
	if !ok {
		return j.Ctx
	}
	r := j.Run
	l := &catalog.Lease{DRC: drcName, Agency: agency, Op: r.Op, Run: r.ID, Target: r.Target,
		Host: d.host, Boot: d.boot, Daemon: d.self, Started: d.now()}
	if err := d.cat.PutLease(l); err != nil {
		d.log.Error("catalog: cannot record the lease", "run", r.ID, "repo", j.Uses.Repo, "err", err)
	}
	return drc.WithStartHook(j.Ctx, func(pid int) {
		start, _ := procStat(pid)
		if err := d.cat.AddLeaseProc(drcName, agency, r.ID, catalog.Proc{PID: pid, Start: start}); err != nil {
			d.log.Error("catalog: cannot record a restic process", "run", r.ID, "pid", pid, "err", err)
		}
	})
}

// releaseLease ends j's lease. Whatever the run's outcome, the lease outlives the run
// while a lock of one of its restic processes may be left in the repository: a restic
// killed by a signal (SIGKILL after its grace, or SIGPIPE when the consumer of a
// `restic dump` fails, as a failed database restore does) cannot remove its lock, and
// only the lease lets a later run prove that lock stale. So the lease is marked ended
// and deleted only once the repository is seen to hold no lock of its processes; when
// that cannot be seen (the DRC does not answer), it stays for clearStaleLocks, the
// next daemon's recovery run or `cadang unlock`.
func (d *Daemon) releaseLease(j *queue.Job) {
	drcName, agency, ok := strings.Cut(j.Uses.Repo, "/")
	if !ok {
		return
	}
	r := j.Run
	ls, err := d.cat.Leases(drcName, agency)
	if err != nil {
		d.log.Error("catalog: cannot read the lease", "run", r.ID, "err", err)
		return
	}
	var l *catalog.Lease
	for i := range ls {
		if ls[i].Run == r.ID {
			l = &ls[i]
		}
	}
	if l == nil {
		return
	}
	l.Ended = d.now()
	if err := d.cat.PutLease(l); err != nil {
		d.log.Error("catalog: cannot keep the lease", "run", r.ID, "err", err)
		return
	}
	if len(l.Restic) > 0 && !d.leaseLocksGone(drcName, agency, l) {
		d.log.Info("the run's lease is kept: a lock of its restic may be left", "run", r.ID, "drc", drcName, "agency", agency)
		return
	}
	if err := d.cat.DeleteLease(drcName, agency, r.ID); err != nil {
		d.log.Error("catalog: cannot delete the lease", "run", r.ID, "err", err)
	}
}

// leaseLockTimeout bounds the look at a repository's locks when a run ends.
const leaseLockTimeout = 20 * time.Second

// leaseLocksGone reports whether the repository provably holds no lock of the lease's
// restic processes: they have all ended, and no lock of this host names one of them.
func (d *Daemon) leaseLocksGone(drcName, agency string, l *catalog.Lease) bool {
	for _, p := range l.Restic {
		if d.procAlive(l.Boot, p) {
			return false
		}
	}
	site, err := d.site(drcName)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaseLockTimeout)
	defer cancel()
	locks, err := site.Repo(agency).Locks(ctx)
	if err != nil {
		d.log.Warn("cannot list the repository's locks after a run", "drc", drcName, "agency", agency, "run", l.Run, "err", err)
		return false
	}
	for _, lk := range locks {
		if lk.Hostname != d.host {
			continue
		}
		for _, p := range l.Restic {
			if p.PID == lk.PID {
				return false
			}
		}
	}
	return true
}

// lockVerdict says what cadang makes of one restic lock.
type lockVerdict struct {
	lock  drc.Lock
	stale bool   // provably left by a dead restic of cadang: it may be removed
	why   string // why it stays, for messages
	lease *catalog.Lease
}

// judgeLocks decides, for every lock of a repository, whether it is cadang's and dead.
func (d *Daemon) judgeLocks(locks []drc.Lock, leases []catalog.Lease) []lockVerdict {
	out := make([]lockVerdict, 0, len(locks))
	for _, l := range locks {
		v := lockVerdict{lock: l}
		switch {
		case l.Hostname != d.host:
			v.why = "another host's lock: cadang never removes it"
		default:
			// Stale only if some lease proves it and none says otherwise (a pid may
			// have been reused by a later run).
			for i := range leases {
				ls := &leases[i]
				for _, p := range ls.Restic {
					if p.PID != l.PID || ls.Host != d.host {
						continue
					}
					why := ""
					switch {
					case d.leaseInUse(ls):
						why = fmt.Sprintf("held by run %d, which is running", ls.Run)
					case d.procAlive(ls.Boot, p):
						why = fmt.Sprintf("restic of run %d still runs (left by a cadang daemon that stopped; it ends on its own)", ls.Run)
					case l.Time.Before(ls.Started.Add(-time.Minute)):
						why = fmt.Sprintf("older than run %d that had this pid", ls.Run)
					}
					if v.lease == nil || v.stale {
						v.lease, v.stale, v.why = ls, why == "", why
					}
				}
			}
			if v.lease == nil {
				v.why = "not a restic process cadang started"
				if _, alive := procStat(l.PID); alive {
					v.why = "held by a live process on this host that cadang did not start"
				}
			}
		}
		out = append(out, v)
	}
	return out
}

// clearStaleLocks removes the locks of repo that are provably cadang's and dead (see
// above) and forgets the leases nothing can hold any more. It returns the locks it
// removed and those it left, with why.
func (d *Daemon) clearStaleLocks(ctx context.Context, repo *drc.Repo) (removed []drc.Lock, kept []lockVerdict, err error) {
	leases, err := d.cat.Leases(repo.DRC, repo.Agency)
	if err != nil {
		return nil, nil, fmt.Errorf("catalog: %w", err)
	}
	locks, err := repo.Locks(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, v := range d.judgeLocks(locks, leases) {
		if !v.stale {
			kept = append(kept, v)
			continue
		}
		if err := repo.RemoveLock(ctx, v.lock.ID); err != nil {
			return removed, kept, err
		}
		removed = append(removed, v.lock)
		d.log.Warn("removed a stale restic lock left by a cadang run whose restic is gone",
			"drc", repo.DRC, "agency", repo.Agency, "lock", v.lock.ID, "pid", v.lock.PID, "host", v.lock.Hostname,
			"since", v.lock.Time, "run", v.lease.Run, "op", v.lease.Op)
	}
	// A lease no run uses and whose restics are all gone has nothing left to prove.
	for i := range leases {
		ls := &leases[i]
		if d.leaseInUse(ls) {
			continue
		}
		gone := true
		for _, p := range ls.Restic {
			if ls.Host == d.host && d.procAlive(ls.Boot, p) {
				gone = false
			}
		}
		if gone {
			if err := d.cat.DeleteLease(ls.DRC, ls.Agency, ls.Run); err != nil {
				return removed, kept, fmt.Errorf("catalog: %w", err)
			}
		}
	}
	return removed, kept, nil
}

// LockedError is a run that could not lock a repository: it names who holds it.
type LockedError struct {
	DRC, Agency string
	Locks       []lockVerdict
	Err         error
}

func (e *LockedError) Error() string {
	var parts []string
	for _, v := range e.Locks {
		parts = append(parts, fmt.Sprintf("%s (%s)", v.lock, v.why))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("the repository of agency %q at drc %q is locked: %v", e.Agency, e.DRC, e.Err)
	}
	return fmt.Sprintf("the repository of agency %q at drc %q is locked: %s", e.Agency, e.DRC, strings.Join(parts, "; "))
}

func (e *LockedError) Unwrap() error { return e.Err }

// withLocks runs op; if restic finds the repository locked, it removes the locks that
// are provably cadang's and dead and tries once more, else it fails naming who holds
// the repository.
func (d *Daemon) withLocks(ctx context.Context, repo *drc.Repo, op func() error) error {
	err := op()
	if !errors.Is(err, drc.ErrLocked) || ctx.Err() != nil {
		return err
	}
	removed, kept, cerr := d.clearStaleLocks(ctx, repo)
	if cerr != nil {
		d.log.Error("cannot inspect the repository's locks", "drc", repo.DRC, "agency", repo.Agency, "err", cerr)
		return err
	}
	if len(removed) > 0 {
		if err = op(); !errors.Is(err, drc.ErrLocked) {
			return err
		}
		if _, kept, cerr = d.clearStaleLocks(ctx, repo); cerr != nil {
			return err
		}
	}
	return &LockedError{DRC: repo.DRC, Agency: repo.Agency, Locks: kept, Err: err}
}

// recoverLocks is the recovery run (op unlock) queued at start for a repository on
// which runs of an earlier daemon left leases (it died, or a shutdown interrupted
// them): it waits a little for their restic processes to end (a restic whose daemon
// died stops at its next write), then removes the locks they left.
func (d *Daemon) recoverLocks(ctx context.Context, j *queue.Job, site *drc.Site, agency string) error {
	r := j.Run
	repo := site.Repo(agency)
	deadline := d.now().Add(recoveryWait)
	for {
		leases, err := d.cat.Leases(site.Name, agency)
		if err != nil {
			return err
		}
		alive := 0
		for i := range leases {
			if leases[i].Run == r.ID || d.leaseInUse(&leases[i]) {
				continue
			}
			for _, p := range leases[i].Restic {
				if leases[i].Host == d.host && d.procAlive(leases[i].Boot, p) {
					alive++
				}
			}
		}
		if alive == 0 || !d.now().Before(deadline) {
			break
		}
		j.SetProgress(func(p *Progress) {
			p.Phase = fmt.Sprintf("waiting for %d restic processes of the stopped daemon", alive)
		})
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	j.SetProgress(func(p *Progress) { p.Phase = "clearing stale locks" })
	if err := site.Check(ctx); err != nil {
		return err
	}
	removed, kept, err := d.clearStaleLocks(ctx, repo)
	for _, l := range removed {
		r.Notes = append(r.Notes, fmt.Sprintf("removed stale %s", l))
	}
	for _, v := range kept {
		r.Notes = append(r.Notes, fmt.Sprintf("kept %s: %s", v.lock, v.why))
	}
	if err == nil && len(removed) == 0 && len(kept) == 0 {
		r.Notes = append(r.Notes, "no lock left behind")
	}
	return err
}

// recoveryWait bounds how long the recovery run waits for restic processes of a
// daemon that died.
const recoveryWait = time.Minute

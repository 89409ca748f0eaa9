package lease

import (
	"context"
	"log/slog"
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

// Config is what a Manager needs of the daemon.
type Config struct {
	Catalog *catalog.Catalog
	Logger  *slog.Logger
	Now     func() time.Time
	PID     int                                  // this daemon's pid
	Site    func(name string) (*drc.Site, error) // the DRC named name
	Running func(run uint64) bool                // whether this daemon executes run now
}

// Manager takes and releases the daemon's leases and judges restic's locks.
type Manager struct {
	// Who this process is, for the leases it takes: this host's name, this boot's id
	// ("" without /proc: then nothing is proved dead) and the daemon process.
	Host string
	Boot string
	Self catalog.Proc

	cat     *catalog.Catalog
	log     *slog.Logger
	now     func() time.Time
	site    func(name string) (*drc.Site, error)
	running func(run uint64) bool
}

// New returns the manager of a daemon: it reads who this process is.
func New(c Config) *Manager {
	m := &Manager{cat: c.Catalog, log: c.Logger, now: c.Now, site: c.Site, running: c.Running}
	m.Host, _ = os.Hostname()
	m.Boot = bootID()
	start, _ := ProcStat(c.PID)
	m.Self = catalog.Proc{PID: c.PID, Start: start}
	return m
}

// process identity on Linux: a pid and its start time after boot (in clock ticks)
// name one process; the boot id tells whether the machine rebooted since.

// ProcStat returns a process's start time and whether it is alive (a zombie is not).
func ProcStat(pid int) (start uint64, alive bool) {
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
func (m *Manager) procAlive(boot string, p catalog.Proc) bool {
	if m.Boot == "" {
		return true // without /proc nothing can be proved dead
	}
	if boot != m.Boot {
		return false // the machine rebooted since
	}
	start, alive := ProcStat(p.PID)
	return alive && (p.Start == 0 || start == p.Start)
}

// InUse reports whether a lease belongs to a run this daemon executes now.
func (m *Manager) InUse(l *catalog.Lease) bool {
	if !l.Ended.IsZero() || l.Host != m.Host {
		return false
	}
	if l.Daemon == m.Self && l.Boot == m.Boot {
		return m.running(l.Run)
	}
	return m.procAlive(l.Boot, l.Daemon)
}

// Acquire records that j uses its repository, and returns the context its restic
// commands run with: each restic started is added to the lease.
func (m *Manager) Acquire(j *queue.Job) context.Context {
	drcName, agency, ok := strings.Cut(j.Uses.Repo, "/")
	if !ok {
		return j.Ctx
	}
	r := j.Run
	l := &catalog.Lease{DRC: drcName, Agency: agency, Op: r.Op, Run: r.ID, Target: r.Target,
		Host: m.Host, Boot: m.Boot, Daemon: m.Self, Started: m.now()}
	if err := m.cat.PutLease(l); err != nil {
		m.log.Error("catalog: cannot record the lease", "run", r.ID, "repo", j.Uses.Repo, "err", err)
	}
	return drc.WithStartHook(j.Ctx, func(pid int) {
		start, _ := ProcStat(pid)
		if err := m.cat.AddLeaseProc(drcName, agency, r.ID, catalog.Proc{PID: pid, Start: start}); err != nil {
			m.log.Error("catalog: cannot record a restic process", "run", r.ID, "pid", pid, "err", err)
		}
	})
}

// Release ends j's lease. Whatever the run's outcome, the lease outlives the run
// while a lock of one of its restic processes may be left in the repository: a restic
// killed by a signal (SIGKILL after its grace, or SIGPIPE when the consumer of a
// `restic dump` fails, as a failed database restore does) cannot remove its lock, and
// only the lease lets a later run prove that lock stale. So the lease is marked ended
// and deleted only once the repository is seen to hold no lock of its processes; when
// that cannot be seen (the DRC does not answer), it stays for ClearStale, the next
// daemon's recovery run or `cadang unlock`.
func (m *Manager) Release(j *queue.Job) {
	drcName, agency, ok := strings.Cut(j.Uses.Repo, "/")
	if !ok {
		return
	}
	r := j.Run
	ls, err := m.cat.Leases(drcName, agency)
	if err != nil {
		m.log.Error("catalog: cannot read the lease", "run", r.ID, "err", err)
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
	l.Ended = m.now()
	if err := m.cat.PutLease(l); err != nil {
		m.log.Error("catalog: cannot keep the lease", "run", r.ID, "err", err)
		return
	}
	if len(l.Restic) > 0 && !m.locksGone(drcName, agency, l) {
		m.log.Info("the run's lease is kept: a lock of its restic may be left", "run", r.ID, "drc", drcName, "agency", agency)
		return
	}
	if err := m.cat.DeleteLease(drcName, agency, r.ID); err != nil {
		m.log.Error("catalog: cannot delete the lease", "run", r.ID, "err", err)
	}
}

// leaseLockTimeout bounds the look at a repository's locks when a run ends.
const leaseLockTimeout = 20 * time.Second

// locksGone reports whether the repository provably holds no lock of the lease's
// restic processes: they have all ended, and no lock of this host names one of them.
func (m *Manager) locksGone(drcName, agency string, l *catalog.Lease) bool {
	for _, p := range l.Restic {
		if m.procAlive(l.Boot, p) {
			return false
		}
	}
	site, err := m.site(drcName)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaseLockTimeout)
	defer cancel()
	locks, err := site.Repo(agency).Locks(ctx)
	if err != nil {
		m.log.Warn("cannot list the repository's locks after a run", "drc", drcName, "agency", agency, "run", l.Run, "err", err)
		return false
	}
	for _, lk := range locks {
		if lk.Hostname != m.Host {
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

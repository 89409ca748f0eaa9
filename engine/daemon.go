package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/cluster"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/lease"
	"github.com/cadang/cadang/engine/notify"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/replication"
	"github.com/cadang/cadang/engine/runs"
	"github.com/cadang/cadang/engine/server"
	"github.com/cadang/cadang/internal/oneline"
)

// Version is cadang's version, set at build time with -ldflags.
var Version = "dev"

var (
	// ErrAlreadyRunning means another daemon holds the state dir.
	ErrAlreadyRunning = errors.New("another cadang daemon is already running on this state dir")
	errShuttingDown   = queue.ErrClosed
	errShutdown       = errors.New("the daemon stopped")
	errCancelled      = runs.ErrCancelled
)

// Sites opens the DRCs of a config, the primary first. It reads their key files but
// does not contact them.
func Sites(cfg *config.Config, log *slog.Logger) (*drc.Restic, []*drc.Site, error) {
	bin, err := drc.FindRestic(cfg.Restic.Binary)
	if err != nil {
		// Not fatal here: every run that needs restic fails with this reason, and the
		// daemon stays up to answer status requests.
		log.Error("restic is not available", "err", err)
		bin = cfg.Restic.Binary
		if bin == "" {
			bin = "restic"
		}
	}
	r := &drc.Restic{Binary: bin, Logger: log, StallTimeout: cfg.Restic.StallTimeout}
	var sites []*drc.Site
	for _, c := range cfg.DRCs {
		s, err := drc.Open(c, r, cfg.StateDir)
		if err != nil {
			return nil, nil, err
		}
		if c.Role == drc.RolePrimary {
			sites = append([]*drc.Site{s}, sites...)
		} else {
			sites = append(sites, s)
		}
	}
	return r, sites, nil
}

// Daemon is `cadang daemon`: it owns the catalog, runs the queue and serves the API.
type Daemon struct {
	log     *slog.Logger
	cat     *catalog.Catalog
	restic  *drc.Restic
	sites   siteList // primary first
	queue   *queue.Queue
	repl    *replication.Replicator // replication between the DRCs
	leases  *lease.Manager          // the leases it takes on repositories
	now     func() time.Time
	pid     int
	started time.Time
	// onReady and onStopping are Options.Ready and Options.Stopping.
	onReady, onStopping func()

	// live is the configuration and what is built from it (reload.go): a reload
	// replaces it whole. Read it once per request with conf().
	live atomic.Pointer[setup]
	// schedMu keeps a reload from replacing the schedules while a due slot is fired;
	// schedWake wakes the schedule loop after a reload.
	schedMu   sync.Mutex
	schedWake chan struct{}

	// stateWake asks for a state bundle soon (protect.go); stateLast is the last
	// bundle written (or not) to each DRC, by name, under stateMu.
	stateWake chan struct{}
	stateMu   sync.Mutex
	stateLast map[string]stateWrite
	// metrics counts what ends (metrics.go); metricsH serves them, made once.
	metrics *runMetrics
	// notifier routes events to the notification channels (notifications.go).
	notifier    *notify.Notifier
	metricsOnce sync.Once
	metricsH    http.Handler

	// site is what this cadang is among the sites: primary, standby, read-only
	// (standby.go).
	site siteState

	mu       sync.Mutex
	stopping bool
	// deferredPrunes are the agencies whose prune at the primary PruneGate refused:
	// the first replication pass after which the gate opens queues it again.
	deferredPrunes map[string]bool
	// cluster dispatches runs to agents (agents.go); nil without cluster:.
	cluster *cluster.Controller
	// beats are the agents' heartbeats, fed by a watch of the bucket (agents.go).
	beats *agentCache
	// walUpToDate: continuous target name -> when its server was last found to have
	// written no WAL after the last segment stored (walidle.go).
	walUpToDate sync.Map
	walLSN      sync.Map // continuous target name -> walSeen
	walBatched  sync.Map // continuous target on an agent -> the agent's time its last WAL batch ended (agentwal.go)
}

// target is a configured target with its implementation.
type target = runs.Target

// Options configure a Daemon.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time // injected clock; time.Now if nil
	// Ready, if set, is called once the API serves (systemd's sd_notify READY=1), and
	// Stopping once shutdown begins.
	Ready, Stopping func()
}

// New prepares a daemon: it opens the catalog (refusing a state dir another daemon
// holds), the DRCs and the targets.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	restic, sites, err := Sites(cfg, log)
	if err != nil {
		return nil, err
	}
	restic.StopGrace = 30 * time.Second
	restic.StallTimeout = cfg.Restic.StallTimeout
	d := &Daemon{log: log, restic: restic, sites: sites, now: now, pid: os.Getpid(), queue: queue.New(cfg.Daemon.Concurrency),
		schedWake: make(chan struct{}, 1), stateWake: make(chan struct{}, 1), stateLast: map[string]stateWrite{}, metrics: newRunMetrics()}
	d.notifier = notify.New(log)
	d.onReady, d.onStopping = opts.Ready, opts.Stopping
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	cat, err := catalog.Open(filepath.Join(cfg.StateDir, "catalog.db"), time.Second)
	if errors.Is(err, catalog.ErrInUse) {
		return nil, fmt.Errorf("%w (%s)", ErrAlreadyRunning, cfg.StateDir)
	}
	if err != nil {
		return nil, err
	}
	d.cat = cat
	// restic's `unlock` probes the owner of a lock on this host with SIGHUP; the locks
	// replication takes name this process, which must not die of it. Serve turns
	// SIGHUP into a reload.
	signal.Ignore(syscall.SIGHUP)
	d.leases = lease.New(lease.Config{Catalog: d.cat, Logger: d.log, Now: d.now, PID: d.pid, Site: d.sites.site,
		Running: func(run uint64) bool { return d.queue.Get(run) != nil }})
	d.repl = replication.New(d.sites, d.cat, func() *config.Config { return d.conf().cfg }, d.log, d.now, replHost{d})
	st, err := d.build(cfg)
	if err != nil {
		cat.Close()
		return nil, err
	}
	d.live.Store(st)
	if err := d.openCluster(); err != nil {
		cat.Close()
		return nil, err
	}
	if d.cluster != nil {
		d.live.Store(d.mustRebuild(st)) // the runner, now with its remote
	}
	d.setupQueue(cfg)
	return d, nil
}

// siteList is the DRCs, the primary first.
type siteList []*drc.Site

// primary returns the primary DRC.
func (l siteList) primary() *drc.Site { return l[0] }

// site returns the DRC named name ("" for the primary).
func (l siteList) site(name string) (*drc.Site, error) {
	if name == "" {
		return l.primary(), nil
	}
	for _, s := range l {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("unknown drc %q", name)
}

// takeOver is what a daemon does once it is the primary, at start or when a standby
// takes over: it takes on the notification conditions its predecessor told, settles
// the runs it left and the schedules missed (startup), lets agents' results of those
// runs be recorded, and resumes runbook runs.
func (d *Daemon) takeOver(orphans []catalog.Run) error {
	d.keepRaised() // notifications.go: the conditions told before the restart stay on
	if err := d.startup(orphans); err != nil {
		return err
	}
	if d.cluster != nil {
		d.cluster.Ready() // agents' results of those runs may be recorded now
	}
	d.resumeRunbooks() // runbooks.go: runs a stopped daemon left continue
	return nil
}

// Serve runs the daemon until ctx ends (SIGTERM), then shuts down gracefully: it stops
// taking work, lets running runs end for daemon.shutdown_grace, then cancels them (restic
// gets SIGINT and removes its locks) and records every run's final state.
func (d *Daemon) Serve(ctx context.Context) error {
	cf := d.conf()
	defer d.cat.Close()
	if d.cluster != nil {
		defer d.cluster.Close()
	}
	d.decideRole(ctx) // standby.go: primary, standby or read-only
	role, why := d.role()
	if role == rolePrimary {
		orphans, err := d.recoverOrphans()
		if err != nil {
			return err
		}
		if err := d.takeOver(orphans); err != nil {
			return err
		}
	}

	ln, err := listenSocket(cf.cfg.Daemon.Socket)
	if err != nil {
		return err
	}
	// Set before the API serves: handleStatus reads it.
	d.started = d.now()
	srv := &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second, ConnContext: server.PeerContext}
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	netLn, err := listenNetwork(cf.cfg.API)
	if err != nil {
		_ = srv.Close()
		_ = os.Remove(cf.cfg.Daemon.Socket)
		return err
	}
	var netSrv *http.Server
	if netLn != nil {
		netSrv = d.networkServer()
		go func() { serveErr <- netSrv.Serve(netLn) }()
		d.log.Info("network API listening", "address", netLn.Addr().String(), "tls", cf.cfg.API.TLS.CertFile != "", "client_certificates", cf.cfg.API.ClientCAFile != "")
	}
	if l := cf.cfg.Metrics.Listen; l != "" {
		mln, err := net.Listen("tcp", l)
		if err != nil {
			_ = srv.Close()
			_ = os.Remove(cf.cfg.Daemon.Socket)
			return fmt.Errorf("metrics.listen %s: %w", l, err)
		}
		msrv := &http.Server{Handler: d.metricsHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = msrv.Serve(mln) }()
		defer msrv.Close()
		d.log.Info("metrics listening", "address", mln.Addr().String())
	}
	d.log.Info("cadang daemon started", "version", Version, "pid", d.pid, "socket", cf.cfg.Daemon.Socket,
		"state_dir", cf.cfg.StateDir, "targets", len(cf.targets), "drcs", len(d.sites), "restic", d.restic.Binary,
		"site", cf.cfg.Daemon.Site, "role", role)
	if role != rolePrimary {
		d.log.Warn("this cadang is not the primary: it schedules and runs nothing", "role", role, "why", why)
	}

	work, stopWork := context.WithCancelCause(context.Background())
	defer stopWork(nil)
	loopDone := make(chan struct{})
	go func() { d.queue.Loop(work, d.execute); close(loopDone) }()
	schedCtx, stopSched := context.WithCancel(context.Background())
	d.notifier.SetRoutes(d.notifyRoutes(cf.cfg))
	notifyDone := make(chan struct{})
	go func() { d.notifier.Run(work); close(notifyDone) }()
	if role == rolePrimary {
		// Schedules, replication, the export sweep, the watch of conditions and state
		// bundles: what only the primary does (standby.go).
		d.activate()
	}
	siteDone := make(chan struct{})
	go func() { d.siteLoop(schedCtx); close(siteDone) }() // standby.go
	// continuous.go: the WAL socket and archiver of continuous postgres targets
	walDone := d.startWAL(schedCtx)
	binlogDone := d.startBinlog(schedCtx) // binlog.go: continuous mysql targets
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer func() {
		signal.Stop(hup)
		signal.Ignore(syscall.SIGHUP) // not the default (exit): restic's probes go on
		close(hup)
	}()
	go func() {
		for range hup {
			// A reload by signal changes what the daemon does, as POST /v1/reload
			// does: the audit log records it too.
			e := api.AuditEntry{Principal: "signal", Role: "operator", Action: "SIGHUP reload", Source: "signal", Status: 200, Result: "reloaded"}
			if _, err := d.Reload(); err != nil {
				d.log.Error("SIGHUP: configuration not reloaded", "err", err)
				e.Status, e.Result = 400, oneline.Error(err)
			}
			service{d}.RecordAudit(e, "", 0)
		}
	}()
	if d.onReady != nil {
		d.onReady()
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		d.log.Error("api server failed", "err", err)
	}

	if d.onStopping != nil {
		d.onStopping()
	}
	stopSched()
	<-siteDone
	<-walDone
	<-binlogDone
	d.deactivate()
	d.mu.Lock()
	d.stopping = true
	d.mu.Unlock()
	d.log.Info("shutting down: no new work is taken", "grace", cf.cfg.Daemon.ShutdownGrace)
	for _, j := range d.queue.Close() {
		d.finishUnstarted(j, "the daemon stopped before the run started")
	}
	if !d.queue.Wait(cf.cfg.Daemon.ShutdownGrace) {
		running := d.queue.Running()
		d.log.Warn("grace period over: cancelling running runs", "runs", len(running))
		for _, j := range running {
			j.Cancel(errShutdown)
		}
		d.queue.Wait(time.Hour) // each restic gets SIGINT, then is killed after its StopGrace
	}
	stopWork(errShutdown)
	<-loopDone
	<-notifyDone

	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if netSrv != nil {
		_ = netSrv.Shutdown(shutCtx)
	}
	_ = os.Remove(cf.cfg.Daemon.Socket)
	d.log.Info("cadang daemon stopped")
	return nil
}

// listenSocket listens on a unix socket only its owner may use (0600). A socket file
// left by a daemon that died is replaced: the catalog lock proves no daemon is alive.
func listenSocket(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		_ = os.Remove(path)
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("api socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// recoverOrphans marks the runs a dead daemon left queued or running as interrupted,
// and returns them.
func (d *Daemon) recoverOrphans() ([]catalog.Run, error) {
	runs, err := d.cat.Unfinished()
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	for i := range runs {
		r := &runs[i]
		prev := r.Status
		r.Status = catalog.Interrupted
		r.Ended = d.now()
		r.Error = fmt.Sprintf("the daemon (pid %d) stopped while the run was %s", r.PID, prev)
		if err := d.cat.UpdateRun(r); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		d.log.Warn("run interrupted by a daemon that stopped", "run", r.ID, "target", r.Target, "op", r.Op, "was", prev)
	}
	return runs, nil
}

// submit records a new run and queues it. It returns a copy of the run as queued: from
// then on the run belongs to the goroutine that executes it.
func (d *Daemon) submit(r *catalog.Run, priority int, exec func(context.Context, *queue.Job) error) (catalog.Run, error) {
	runs, err := d.submitAll([]submission{{run: r, prio: priority, exec: exec}}, nil)
	if err != nil {
		return catalog.Run{}, err
	}
	return runs[0], nil
}

// submitAll records new runs (with schedule states, in the same transaction) and
// queues them; it returns copies of the runs as queued.
func (d *Daemon) submitAll(subs []submission, states []catalog.ScheduleState) ([]catalog.Run, error) {
	d.mu.Lock()
	stopping := d.stopping
	d.mu.Unlock()
	if stopping {
		return nil, errShuttingDown
	}
	if len(subs) > 0 {
		if err := d.passive(subs[0].run.Op); err != nil {
			return nil, err
		}
	}
	now := d.now()
	runs := make([]*catalog.Run, len(subs))
	for i, sub := range subs {
		r := sub.run
		r.Status, r.Queued, r.PID = catalog.Queued, now, d.pid
		runs[i] = r
	}
	if err := d.cat.Due(runs, states); err != nil {
		return nil, err
	}
	out := make([]catalog.Run, 0, len(subs))
	var addErr error
	for _, sub := range subs {
		r := sub.run
		ctx, cancel := context.WithCancelCause(context.Background())
		j := &queue.Job{Run: r, Priority: sub.prio, Exec: sub.exec, Uses: d.sites.usesOf(r), Key: sub.key, Ctx: ctx, Cancel: cancel}
		j.Uses.Beside = sub.beside
		queued := *r
		if err := d.queue.Add(j); err != nil {
			d.finishUnstarted(j, "the daemon is shutting down")
			addErr = err
			continue
		}
		d.log.Info("run queued", "run", queued.ID, "op", queued.Op, "target", queued.Target, "drc", queued.DRC, "reason", queued.Reason)
		out = append(out, queued)
	}
	if addErr != nil && len(out) == 0 {
		return nil, addErr
	}
	return out, nil
}

// execute runs a job and records its outcome.
func (d *Daemon) execute(j *queue.Job) {
	r := j.Run
	r.Status, r.Started = catalog.Running, d.now()
	j.Publish()
	if err := d.cat.UpdateRun(r); err != nil {
		d.log.Error("catalog", "run", r.ID, "err", err)
	}
	log := d.log.With("run", r.ID, "op", r.Op, "target", r.Target)
	log.Info("run started")
	err := j.Exec(d.leases.Acquire(j), j)
	r.Ended = d.now()
	switch {
	case err == nil:
		if r.Status == catalog.Running {
			r.Status = catalog.Succeeded
		}
	case j.Ctx.Err() != nil:
		r.Status = catalog.Interrupted
		if errors.Is(context.Cause(j.Ctx), errCancelled) {
			r.Status = catalog.Cancelled
		}
		r.Error = oneline.Of(runs.WithCause(context.Cause(j.Ctx), err))
	default:
		if r.Status == catalog.Running {
			r.Status = catalog.Failed
		}
		r.Error = oneline.Of(err.Error())
	}
	j.Publish()
	if err := d.cat.UpdateRun(r); err != nil {
		log.Error("catalog: cannot record the run's end", "err", err)
	}
	d.leases.Release(j)
	d.metrics.ended(r)
	d.runEnded(r) // notifications.go
	log.Info("run ended", "status", r.Status, "took", r.Ended.Sub(r.Started).Round(time.Millisecond), "err", r.Error)
	if r.Op == "backup" || r.Op == "drill" || r.Op == "forget" || r.Op == "repair" {
		d.stateChanged() // protect.go: a new snapshot, a drill, keys: the state bundle follows
	}
}

// finishUnstarted records a job that will never run.
func (d *Daemon) finishUnstarted(j *queue.Job, why string) {
	r := j.Run
	r.Status, r.Ended, r.Error = catalog.Interrupted, d.now(), why
	if err := d.cat.UpdateRun(r); err != nil {
		d.log.Error("catalog", "run", r.ID, "err", err)
	}
}

// cancel stops a queued or running run.
func (d *Daemon) cancel(id uint64) error {
	if d.queue.Remove(id) {
		r, err := d.cat.Run(id)
		if err != nil {
			return err
		}
		r.Status, r.Ended, r.Error = catalog.Cancelled, d.now(), "cancelled before it started"
		return d.cat.UpdateRun(r)
	}
	j := d.queue.Get(id)
	if j == nil {
		return fmt.Errorf("run %d is not queued or running", id)
	}
	j.Cancel(errCancelled)
	return nil
}

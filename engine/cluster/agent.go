package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/lease"
	"github.com/cadang/cadang/targets"
)

// Agent is `cadang agent run`: it takes the jobs of its name and of its pool, runs
// them here (the target kind and restic, writing straight to the DRC) and reports.
type Agent struct {
	cfg     *AgentConfig
	log     *slog.Logger
	version string
	id      *age.X25519Identity
	nc      *nats.Conn
	js      jetstream.JetStream
	host    string

	mu      sync.Mutex
	running map[uint64]bool
	walPos  map[string]walPosition // agentwal.go
}

// NewAgent reads the agent's keys and connects to the controller's NATS server.
func NewAgent(cfg *AgentConfig, version string, log *slog.Logger) (*Agent, error) {
	raw, err := os.ReadFile(cfg.IdentityFile)
	if err != nil {
		return nil, fmt.Errorf("identity_file: %w", err)
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("identity_file %s: not an age identity", cfg.IdentityFile)
	}
	nk, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
	if err != nil {
		return nil, fmt.Errorf("nkey_file: %w", err)
	}
	opts := []nats.Option{nk, nats.CustomInboxPrefix(inboxPrefix(cfg.Name)), nats.Name("cadang-agent-" + cfg.Name),
		nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	nc, err := nats.Connect(cfg.Controller, opts...)
	if err != nil {
		return nil, fmt.Errorf("agent %s: connecting to %s: %w%s", cfg.Name, cfg.Controller, err, tlsHint(err, cfg.CAFile))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	host, _ := os.Hostname()
	for _, d := range []string{"outbox", "done"} {
		if err := os.MkdirAll(filepath.Join(cfg.ScratchDir, d), 0o700); err != nil {
			nc.Close()
			return nil, err
		}
	}
	pruneDone(filepath.Join(cfg.ScratchDir, "done"), 7*24*time.Hour)
	return &Agent{cfg: cfg, log: log.With("agent", cfg.Name), version: version, id: id, nc: nc, js: js, host: host,
		running: map[uint64]bool{}, walPos: map[string]walPosition{}}, nil
}

// Close disconnects.
func (a *Agent) Close() { a.nc.Close() }

// Run takes jobs until ctx ends; a run in progress is then cancelled (restic gets
// SIGINT) and its result, if any, stays in the outbox for the next start.
func (a *Agent) Run(ctx context.Context) error {
	var cons []jetstream.Consumer
	names := []string{agentConsumer(a.cfg.Name)}
	if a.cfg.Pool != "" {
		names = append(names, poolConsumer(a.cfg.Pool))
	}
	for _, n := range names {
		c, err := a.js.Consumer(ctx, JobsStream, n)
		if err != nil {
			return fmt.Errorf("agent %s: consumer %s: %w (is the agent enrolled in the controller's cluster.agents?)", a.cfg.Name, n, err)
		}
		cons = append(cons, c)
	}
	if err := a.serveWAL(ctx); err != nil {
		return err
	}
	a.clearKilledRuns(ctx)
	a.flushOutbox(ctx)
	a.heartbeat(ctx)
	a.log.Info("cadang agent started", "controller", a.cfg.Controller, "pool", a.cfg.Pool, "concurrency", a.cfg.Concurrency)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(a.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				a.heartbeat(ctx)
				a.flushOutbox(ctx)
			}
		}
	}()
	for i := 0; i < a.cfg.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.worker(ctx, cons)
		}()
	}
	wg.Wait()
	return nil
}

func (a *Agent) worker(ctx context.Context, cons []jetstream.Consumer) {
	for ctx.Err() == nil {
		for _, c := range cons {
			batch, err := c.Fetch(1, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				if ctx.Err() == nil {
					a.log.Warn("fetching jobs", "err", err)
					time.Sleep(time.Second)
				}
				continue
			}
			for m := range batch.Messages() {
				a.handle(ctx, m)
			}
		}
	}
}

func (a *Agent) heartbeat(ctx context.Context) {
	// The time first: the spools' state is read after it, so that a heartbeat older
	// than a WAL batch's end (Result.Ended) never shows files the batch removed.
	now := time.Now()
	spools := a.walStates()
	a.mu.Lock()
	run := make([]uint64, 0, len(a.running))
	for id := range a.running {
		run = append(run, id)
	}
	a.mu.Unlock()
	data, _ := json.Marshal(Heartbeat{Name: a.cfg.Name, Pool: a.cfg.Pool, Host: a.host, Version: a.version, Time: now,
		Running: run, Capacity: a.cfg.Concurrency, WAL: spools})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := a.js.Publish(pctx, heartbeatSubject(a.cfg.Name), data); err != nil && ctx.Err() == nil {
		a.log.Warn("heartbeat not delivered", "err", err)
	}
}

// handle runs one job: decrypt it, keep its lease alive while the backup runs, put
// the result in the outbox, acknowledge the job, then deliver the result.
func (a *Agent) handle(ctx context.Context, m jetstream.Msg) {
	var job Job
	if err := json.Unmarshal(m.Data(), &job); err != nil {
		a.log.Error("an unreadable job dropped", "err", err)
		_ = m.Term()
		return
	}
	log := a.log.With("run", job.Run)
	done := filepath.Join(a.cfg.ScratchDir, "done", fmt.Sprintf("run-%d", job.Run))
	if _, err := os.Stat(done); err == nil {
		// Redelivered after this agent finished it (its ack was lost with the
		// controller): the result is in the outbox or delivered; never a second snapshot.
		log.Info("job already done here: acknowledged again")
		_ = m.Ack()
		return
	}
	res := &Result{Run: job.Run, Agent: a.cfg.Name, Started: time.Now()}
	var sec Secret
	var after func()
	if err := open(job.Sealed, a.id, &sec); err != nil {
		res.Error = err.Error()
	} else {
		a.mu.Lock()
		a.running[job.Run] = true
		a.mu.Unlock()
		log.Info("run started", "target", sec.Target)
		runCtx, cancel := context.WithCancel(ctx)
		phase := make(chan Progress, 1)
		done := make(chan struct{})
		go a.keepAlive(runCtx, m, job.Run, sec.Lease, phase, done)
		after = a.backup(runCtx, &sec, job.Sealed, res, phase)
		cancel()
		<-done
		a.mu.Lock()
		delete(a.running, job.Run)
		a.mu.Unlock()
	}
	res.Ended = time.Now()
	if ctx.Err() != nil {
		log.Warn("run stopped with the agent; its job is redelivered or withdrawn by the controller")
		return
	}
	data, _ := json.Marshal(res)
	box := filepath.Join(a.cfg.ScratchDir, "outbox", fmt.Sprintf("run-%d.json", job.Run))
	if err := writeFileSync(box, data); err != nil {
		log.Error("cannot keep the result in the outbox", "err", err)
	}
	if err := writeFileSync(done, nil); err != nil {
		log.Error("cannot mark the job done", "err", err)
	}
	if after != nil && res.Error == "" {
		after() // the result is kept: what the run stored may go (a WAL batch's files)
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := m.DoubleAck(actx); err != nil {
		log.Warn("job not acknowledged", "err", err)
	}
	cancel()
	a.deliver(ctx, box, data)
	log.Info("run ended", "error", res.Error)
}

// keepAlive tells JetStream the job is in progress and the controller how it goes,
// more often than the lease.
func (a *Agent) keepAlive(ctx context.Context, m jetstream.Msg, run uint64, lease time.Duration, phase <-chan Progress, done chan<- struct{}) {
	defer close(done)
	every := lease / 3
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	last := Progress{Run: run, Agent: a.cfg.Name, Phase: "started"}
	send := func() {
		data, _ := json.Marshal(last)
		_ = a.nc.Publish(progressSubject(a.cfg.Name), data)
	}
	send()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-phase:
			last = p
		case <-t.C:
			_ = m.InProgress()
			send()
		}
	}
}

// deliver publishes a result; once CADANG_RESULTS has it, the outbox file goes.
func (a *Agent) deliver(ctx context.Context, box string, data []byte) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := a.js.Publish(pctx, resultSubject(a.cfg.Name), data); err != nil {
		a.log.Warn("result kept in the outbox: not delivered yet", "file", box, "err", err)
		return
	}
	if err := os.Remove(box); err != nil {
		a.log.Error("outbox", "err", err)
	}
}

// flushOutbox delivers results a former run of the agent could not.
func (a *Agent) flushOutbox(ctx context.Context) {
	dir := filepath.Join(a.cfg.ScratchDir, "outbox")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err == nil {
			a.deliver(ctx, p, data)
		}
	}
}

// tlsHint says what to do when the controller's certificate could not be verified.
func tlsHint(err error, caFile string) string {
	return caHint(err, caFile, "ca_file", "the controller", "its cluster.tls certificate")
}

// caHint says what to do when the certificate of server could not be verified: give
// key (the CA file's setting), the CA that signed cert; or "" for another error.
func caHint(err error, caFile, key, server, cert string) string {
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	if !errors.As(err, &unknown) && !errors.As(err, &verify) && !strings.Contains(err.Error(), "x509:") {
		return ""
	}
	if caFile == "" {
		return " (" + server + " speaks TLS: give " + key + ":, the CA that signed " + cert + ")"
	}
	return " (" + key + " " + caFile + " is not the CA that signed " + strings.Replace(cert, "its ", server+"'s ", 1) + ")"
}

func open(sealed []byte, id age.Identity, v any) error {
	r, err := age.Decrypt(strings.NewReader(string(sealed)), id)
	if err != nil {
		return fmt.Errorf("the job cannot be opened with this agent's key: %w", err)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("the job cannot be opened with this agent's key: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("the job is not one this agent understands (another version of cadang?): %w", err)
	}
	return nil
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// The files of a run's private folder that outlive an agent killed mid-run: the job as
// it came (sealed: the password and S3 keys encrypted to the agent), and the restic
// processes the run started ("pid start" lines), so that the next start of the agent
// can clear the locks they left.
const (
	jobFile    = "job.age"
	resticPids = "restic.pids"
)

// backup runs the target kind here with restic writing to the job's DRC. What it
// returns, if not nil, is called once the result is in the outbox.
func (a *Agent) backup(ctx context.Context, sec *Secret, sealed []byte, res *Result, phase chan<- Progress) func() {
	run := res.Run
	dir := filepath.Join(a.cfg.ScratchDir, fmt.Sprintf("run-%d", run))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		res.Error = err.Error()
		return nil
	}
	defer os.RemoveAll(dir)
	fail := func(err error) { res.Error = strings.ReplaceAll(err.Error(), "\n", " ") }
	if err := writeFileSync(filepath.Join(dir, jobFile), sealed); err != nil {
		fail(err)
		return nil
	}
	ctx = drc.WithStartHook(ctx, func(pid int) {
		start, _ := lease.ProcStat(pid)
		f, err := os.OpenFile(filepath.Join(dir, resticPids), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err == nil {
			_, _ = fmt.Fprintf(f, "%d %d\n", pid, start)
			_ = f.Sync()
			_ = f.Close()
		}
	})
	built, err := buildTarget(sec.Kind, sec.Target, sec.Agency, sec.Spec, a.log.With("target", sec.Target))
	if err != nil {
		fail(err)
		return nil
	}
	impl, after, err := a.continuousJob(sec, built.t, built.spec) // agentwal.go
	if err != nil {
		fail(err)
		return nil
	}
	repo, err := a.repo(sec, dir)
	if err != nil {
		fail(err)
		return nil
	}
	w := &agentWriter{repo: repo, host: sec.Target, tags: sec.Tags, dir: filepath.Join(dir, "scratch"),
		log: a.log.With("run", run, "target", sec.Target), phase: phase, run: run, agent: a.cfg.Name,
		unusable: map[string]bool{}}
	for _, id := range sec.Unusable {
		w.unusable[id] = true
	}
	br, err := impl.Backup(ctx, w)
	if br != nil {
		res.Manifest, res.Notes = br.Manifest, br.Notes
	}
	res.Summary = w.summary
	switch {
	case err == nil && w.summary == nil:
		res.Error = "the target wrote no snapshot"
	case errors.Is(err, drc.ErrPartial) && w.summary != nil:
		res.Partial, res.Error = true, strings.ReplaceAll(err.Error(), "\n", " ")
	case err != nil:
		fail(err)
	}
	return after
}

// repo opens the job's repository with the run's folder dir as drc's state: the
// repository password is written where drc looks for it, in the run's private folder
// (0700, file 0600), and removed with it.
func (a *Agent) repo(sec *Secret, dir string) (*drc.Repo, error) {
	keys := filepath.Join(dir, "state", "keys", sec.DRC.Name)
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(keys, sec.Agency+".key"), []byte(sec.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	bin, err := drc.FindRestic(a.cfg.Restic.Binary)
	if err != nil {
		return nil, err
	}
	site, err := drc.Open(drc.Config{Name: sec.DRC.Name, Role: drc.RolePrimary, S3: sec.DRC.S3, Path: sec.DRC.Path},
		&drc.Restic{Binary: bin, Logger: a.log, StallTimeout: 2 * time.Minute, StopGrace: 10 * time.Second}, filepath.Join(dir, "state"))
	if err != nil {
		return nil, err
	}
	return site.Repo(sec.Agency), nil
}

// clearKilledRuns handles the run folders an agent killed mid-run left (no run runs
// yet). The restic processes of such a run died with the agent (their parent-death
// signal) and left their locks in the repository, where they would stop the next
// check, prune or forget. engine/lease's rule for the daemon's own runs applies: a
// lock is removed when it is provably this agent's and dead, that is its host is this
// host and its pid is a restic the run started, and no process has that pid now. Then
// the folder goes, with the password it held.
func (a *Agent) clearKilledRuns(ctx context.Context) {
	stale, _ := filepath.Glob(filepath.Join(a.cfg.ScratchDir, "run-*"))
	for _, dir := range stale {
		if err := a.clearLocks(ctx, dir); err != nil {
			a.log.Warn("the locks of a killed run could not be cleared; a check or prune that meets them names them", "run", strings.TrimPrefix(filepath.Base(dir), "run-"), "err", err)
		}
		_ = os.RemoveAll(dir)
	}
}

func (a *Agent) clearLocks(ctx context.Context, dir string) error {
	sealed, err := os.ReadFile(filepath.Join(dir, jobFile))
	if err != nil {
		return nil // killed before it wrote anything
	}
	pids := map[int]uint64{}
	if b, err := os.ReadFile(filepath.Join(dir, resticPids)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			var pid int
			var start uint64
			if n, _ := fmt.Sscanf(line, "%d %d", &pid, &start); n == 2 {
				pids[pid] = start
			}
		}
	}
	if len(pids) == 0 {
		return nil // no restic started
	}
	var sec Secret
	if err := open(sealed, a.id, &sec); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	repo, err := a.repo(&sec, dir)
	if err != nil {
		return err
	}
	locks, err := repo.Locks(ctx)
	if err != nil {
		return err
	}
	for _, l := range locks {
		if _, ok := pids[l.PID]; !ok || l.Hostname != a.host {
			continue
		}
		if _, alive := lease.ProcStat(l.PID); alive {
			// The restic died with the agent, so another process has its pid now: it
			// may be a restic of someone else holding a lock of its own here. Kept.
			continue
		}
		if err := repo.RemoveLock(ctx, l.ID); err != nil {
			return err
		}
		a.log.Warn("removed a stale restic lock left by a killed run of this agent", "lock", l.String(), "drc", repo.DRC, "agency", repo.Agency)
	}
	return nil
}

// agentWriter is the targets.Writer of a run on an agent.
type agentWriter struct {
	repo    *drc.Repo
	host    string
	tags    []string
	dir     string
	log     *slog.Logger
	phase   chan<- Progress
	run     uint64
	agent   string
	summary *drc.BackupSummary
	// unusable holds the ids of the target's snapshots that are not good (Secret.Unusable).
	unusable map[string]bool
}

// Interface guards
var (
	_ targets.Writer  = (*agentWriter)(nil)
	_ targets.History = (*agentWriter)(nil)
	_ targets.Stored  = (*agentWriter)(nil)
	_ targets.Reader  = (*agentReader)(nil)
)

// StoredFiles implements targets.Stored.
func (w *agentWriter) StoredFiles() (uint64, bool) {
	if w.summary == nil || w.summary.SnapshotID == "" {
		return 0, false
	}
	return w.summary.TotalFilesProcessed, true
}

// Last implements targets.History: the newest snapshot of the target in the job's
// repository that carries all of tags and is good, that is neither named in the job's
// Unusable list (the controller's catalog) nor tagged with a status (status=partial).
func (w *agentWriter) Last(ctx context.Context, tags ...string) (targets.Reader, error) {
	snaps, err := w.repo.Snapshots(ctx, append([]string{"target=" + w.host}, tags...)...)
	if err != nil {
		return nil, err
	}
	var best *drc.Snapshot
	for i, s := range snaps {
		if w.unusable[s.ID] || s.Tag(statusTag) != "" {
			continue
		}
		if best == nil || s.Time.After(best.Time) {
			best = &snaps[i]
		}
	}
	if best == nil {
		return nil, nil
	}
	return &agentReader{repo: w.repo, snap: *best, log: w.log}, nil
}

// statusTag is the restic tag that marks a snapshot that is not good (status=partial),
// engine/catalog.StatusTag.
const statusTag = "status"

// agentReader reads an earlier snapshot for a kind that builds on it.
type agentReader struct {
	repo *drc.Repo
	snap drc.Snapshot
	log  *slog.Logger
}

func (rd *agentReader) Snapshot() targets.Snapshot {
	return targets.Snapshot{ID: rd.snap.ID, Time: rd.snap.Time, Paths: rd.snap.Paths, Tags: rd.snap.Tags}
}

func (rd *agentReader) RestoreTo(ctx context.Context, dir string, include []string) error {
	_, err := rd.repo.Restore(ctx, rd.snap.ID, dir, include, nil)
	return err
}

func (rd *agentReader) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(rd.repo.Dump(ctx, rd.snap.ID, path, pw)) }()
	return pr, nil
}

func (rd *agentReader) Logger() *slog.Logger { return rd.log }

func (w *agentWriter) backup(ctx context.Context, o drc.BackupOptions) error {
	if w.summary != nil {
		return errors.New("a backup run writes one snapshot: the target called its writer twice")
	}
	o.Host = w.host
	o.Tags = append(append([]string{}, w.tags...), o.Tags...)
	sum, _, err := w.repo.Backup(ctx, o, func(p drc.Progress) {
		select {
		case w.phase <- Progress{Run: w.run, Agent: w.agent, Phase: "backup", PercentDone: p.PercentDone, BytesDone: p.BytesDone, TotalBytes: p.TotalBytes}:
		default:
		}
	})
	w.summary = sum
	return err
}

func (w *agentWriter) Files(ctx context.Context, s targets.FilesSpec) error {
	return w.backup(ctx, drc.BackupOptions{Paths: s.Paths, Exclude: s.Exclude, OneFileSystem: s.OneFileSystem, Tags: s.Tags,
		Dir: s.Dir, Parent: s.Parent, MinUnmodified: s.Unmodified})
}

func (w *agentWriter) Stream(ctx context.Context, s targets.StreamSpec) error {
	return w.backup(ctx, drc.BackupOptions{Stdin: &drc.StdinCommand{Filename: s.Filename, Argv: s.Argv, Env: s.Env}, Tags: s.Tags})
}

func (w *agentWriter) Scratch() (string, error) { return w.dir, os.MkdirAll(w.dir, 0o700) }

func (w *agentWriter) Logger() *slog.Logger { return w.log }

// pruneDone removes the marks of jobs done longer ago than age: JetStream redelivers
// within a lease, not days later.
func pruneDone(dir string, age time.Duration) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

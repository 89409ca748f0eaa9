package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/cluster"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/runs"
	"github.com/cadang/cadang/engine/wal"
	"github.com/cadang/cadang/internal/oneline"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/mysql"
	"github.com/cadang/cadang/targets/postgres"
)

// Continuous PostgreSQL protection (docs/continuous.md): the server's archive_command,
// `cadang wal-push`, hands each WAL segment to the daemon over its WAL socket
// (engine/wal.Receiver), which fsyncs it into the target's spool under state_dir
// before answering. Every archive interval the spool becomes one snapshot of the target
// in the agency's repository (a backup run with reason wal-archive, replicated like any
// snapshot); the segments leave the spool only once that run recorded its snapshot. A
// gap in the chain of segments is an alarm naming the first missing one.

// AlarmWALGap is the alarm of a continuously protected target whose WAL chain has a
// hole.
const AlarmWALGap = "wal-gap"

// reasonWALArchive is the reason of a run that stores a batch of WAL.
const reasonWALArchive = "wal-archive"

// WALSocket is where `cadang wal-push` reaches the daemon of a state dir.
func WALSocket(stateDir string) string { return filepath.Join(stateDir, "wal", "push.sock") }

func walSpoolDir(stateDir, target string) string {
	return filepath.Join(stateDir, "wal", "spool", target)
}

// walState is the archiver's memory of each target.
type walState struct {
	mu      sync.Mutex
	last    map[string]time.Time // last flush
	running map[string]bool      // a batch is being stored
}

func newWALState() *walState {
	return &walState{last: map[string]time.Time{}, running: map[string]bool{}}
}

// claim reports whether target name's batch is due at now (its interval iv has passed
// and no batch of it is being stored), and then marks one as being stored until
// release is called.
func (st *walState) claim(name string, iv time.Duration, now time.Time) (release func(), due bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.running[name] || now.Sub(st.last[name]) < iv {
		return nil, false
	}
	st.running[name], st.last[name] = true, now
	return func() { st.mu.Lock(); st.running[name] = false; st.mu.Unlock() }, true
}

// whilePrimary calls fn every second while this daemon is the primary, until ctx ends.
func (d *Daemon) whilePrimary(ctx context.Context, fn func()) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if role, _ := d.role(); role == rolePrimary {
				fn()
			}
		}
	}
}

// continuousTarget returns a target in continuous mode and its archive interval.
func (d *Daemon) continuousTarget(name string) (*target, time.Duration, error) {
	t, ok := d.conf().targets[name]
	if !ok {
		return nil, 0, d.unknownTarget(name)
	}
	iv, ok := postgres.IsContinuous(t.Cfg.Spec)
	if !ok {
		return nil, 0, fmt.Errorf("target %q is not a postgres target in mode: continuous", name)
	}
	return t, iv, nil
}

// continuousRPO is the RPO of a target in continuous mode: its archive interval (a
// batch of WAL is a snapshot every interval), doubled so that a batch still being
// stored is not late.
func continuousRPO(t *target) (time.Duration, bool) {
	if iv, ok := mysql.IsContinuous(t.Cfg.Spec); ok { // binlog.go: the same batches of binlog files
		return 2 * iv, true
	}
	iv, ok := postgres.IsContinuous(t.Cfg.Spec)
	return 2 * iv, ok
}

// startWAL serves the WAL socket and runs the archiver until ctx ends; the channel is
// closed once both stopped. Nothing starts without a continuous target.
func (d *Daemon) startWAL(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	cf := d.conf()
	any := false
	for name := range cf.targets {
		if _, _, err := d.continuousTarget(name); err == nil {
			any = true
		}
	}
	if !any {
		close(done)
		return done
	}
	socket := WALSocket(cf.cfg.StateDir)
	ln, err := wal.Listen(socket)
	if err != nil {
		d.log.Error("WAL socket: continuous targets cannot archive", "err", err)
		close(done)
		return done
	}
	r := &wal.Receiver{Log: d.log, Allowed: wal.PushUsers(),
		Spool: func(name string) (*wal.Spool, error) {
			t, _, err := d.continuousTarget(name)
			if err != nil {
				return nil, err
			}
			if t.Cfg.Agent != "" {
				// Spooled here it would never be stored: its batches are the agent's.
				return nil, fmt.Errorf("target %q runs on agent %s: its WAL goes to that agent's wal_socket (cadang pg setup %s --socket)", name, t.Cfg.Agent, name)
			}
			return wal.Open(walSpoolDir(d.conf().cfg.StateDir, name))
		}}
	go func() { _ = r.Serve(ln) }()
	d.log.Info("WAL socket listening", "socket", socket)
	st := newWALState()
	go func() {
		defer close(done)
		defer os.Remove(socket)
		defer ln.Close()
		d.whilePrimary(ctx, func() { d.archiveDue(st) })
	}()
	return done
}

// archiveDue queues a batch of every continuous target whose interval has passed.
func (d *Daemon) archiveDue(st *walState) {
	now := time.Now()
	for name := range d.conf().targets {
		t, iv, err := d.continuousTarget(name)
		if err != nil {
			continue
		}
		release, due := st.claim(name, iv, now)
		if !due {
			continue
		}
		archive := d.archiveWAL
		if t.Cfg.Agent != "" {
			archive = d.archiveOnAgent // agentwal.go: the spool is the agent's
		}
		if err := archive(t, release); err != nil {
			d.log.Warn("WAL batch not queued", "target", name, "err", err)
			release()
		}
	}
}

// archiveWAL queues one run that stores the spool of t as one snapshot, if it holds
// anything; done is called when that run ended.
func (d *Daemon) archiveWAL(t *target, done func()) error {
	cf := d.conf()
	spool, err := wal.Open(walSpoolDir(cf.cfg.StateDir, t.Cfg.Name))
	if err != nil {
		return err
	}
	names, err := spool.Names()
	if err == nil && len(names) == 0 {
		iv, _ := postgres.IsContinuous(t.Cfg.Spec)
		go func() { defer done(); d.checkWALIdle(t, spool, iv) }() // walidle.go
		return nil
	}
	if err != nil {
		done()
		return err
	}
	size := spool.SegmentSize()
	d.walGaps(t, spool, size)
	batch, err := cluster.NewWALBatch(spool)
	if err != nil {
		done()
		return err
	}
	return d.submitWALBatch(t, func(ctx context.Context, j *queue.Job, run func(*runs.Target) error) error {
		defer done()
		err := run(&runs.Target{Cfg: walBatchConfig(t), Impl: batch})
		if err == nil && j.Run.Status == catalog.Succeeded {
			// Recorded (and on its way to the other DRCs): the spool may let go.
			if rerr := spool.Remove(batch.Names, size); rerr != nil {
				d.log.Error("WAL spool: archived segments not removed", "target", t.Cfg.Name, "err", rerr)
			}
		}
		return err
	})
}

// walBatchConfig is t's configuration for its WAL batches: without the target's hooks,
// which are for its backups, not for every batch of WAL.
func walBatchConfig(t *target) *config.Target {
	cfg := *t.Cfg
	cfg.Hooks = targets.Hooks{}
	return &cfg
}

// submitWALBatch queues the run of a batch of t's WAL (reason wal-archive, one at a
// time per target); exec stores it with run.
func (d *Daemon) submitWALBatch(t *target, exec func(ctx context.Context, j *queue.Job, run func(*runs.Target) error) error) error {
	cf := d.conf()
	r := &catalog.Run{Op: "backup", Target: t.Cfg.Name, Agency: t.Cfg.Agency, Kind: t.Cfg.Kind, DRC: d.sites.primary().Name, Reason: reasonWALArchive}
	_, err := d.submitAll([]submission{{run: r, prio: queue.PriorityScheduled, key: "wal/" + t.Cfg.Name, exec: func(ctx context.Context, j *queue.Job) error {
		return exec(ctx, j, func(bt *runs.Target) error { return cf.runs.Backup(ctx, j, bt) })
	}}}, nil)
	return err
}

// walGaps raises an alarm for each hole in the chain from the last archived segment
// through the spool.
func (d *Daemon) walGaps(t *target, spool *wal.Spool, size int64) {
	gaps, err := spool.Gaps(size)
	if err != nil {
		d.log.Error("WAL spool: chain not checked", "target", t.Cfg.Name, "err", err)
		return
	}
	for _, g := range gaps {
		d.log.Error("WAL chain broken", "target", t.Cfg.Name, "missing", g.From, "to", g.To)
		d.raiseLogGap(t, g.From, oneline.Of(g.String())+": a restore cannot go past "+g.After+" until a new base backup")
	}
}

// raiseLogGap raises the wal-gap alarm of a hole in t's log chain (WAL or binlog):
// missing is the first file lost, what says what the hole means.
func (d *Daemon) raiseLogGap(t *target, missing, what string) {
	if _, err := d.cat.RaiseAlarm(catalog.Alarm{Kind: AlarmWALGap, DRC: d.sites.primary().Name, Agency: t.Cfg.Agency,
		Object: t.Cfg.Name + "/" + missing, Message: "target " + t.Cfg.Name + ": " + what}, time.Now()); err != nil {
		d.log.Error("catalog: alarm", "err", err)
	}
}

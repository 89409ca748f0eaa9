package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/wal"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/postgres"
)

// The agent's end of continuous PostgreSQL protection (docs/agents.md,
// docs/continuous.md). PostgreSQL on the agent's host pushes its WAL to the agent's
// wal_socket (`cadang wal-push --socket=...`), which fsyncs each file into the
// target's spool under scratch_dir/wal before answering, as the daemon's own socket
// does. The agent takes the WAL of a target only once it ran a base backup of it (the
// job says the target is in mode: continuous; the target's section is kept beside the
// spool, it names files, never a secret): a typo in archive_command is refused, never
// spooled where nothing stores it.
//
// Every heartbeat says what each spool holds (WALState); the controller queues a
// batch run when one holds files, and the agent stores the spool as one snapshot
// (Secret.WAL), then lets go of the files once the result is in its outbox. It raises
// the wal-gap alarm from the gaps the heartbeat names, and, from the server's WAL
// position the agent reads while a spool is empty, tells an idle server from a broken
// archive.

// walTargetFile is the target's section kept in its spool's folder.
const walTargetFile = ".target.json"

type walTarget struct {
	Kind   string          `json:"kind"`
	Agency string          `json:"agency"`
	Spec   json.RawMessage `json:"spec"`
}

// walPosition is where a target's server said its WAL ends, and when.
type walPosition struct {
	pos   postgres.WALPosition
	asked time.Time
}

func (a *Agent) walDir() string { return filepath.Join(a.cfg.ScratchDir, "wal") }

// walSpool is the spool of a target this agent protects continuously.
func (a *Agent) walSpool(target string) (*wal.Spool, error) {
	if !drc.ValidName(target) {
		return nil, fmt.Errorf("%q is not a target name", target)
	}
	dir := filepath.Join(a.walDir(), target)
	if _, err := os.Stat(filepath.Join(dir, walTargetFile)); err != nil {
		return nil, fmt.Errorf("target %q is not a continuous target of agent %s yet: its WAL is taken once its first base backup ran here (cadang backup %s)", target, a.cfg.Name, target)
	}
	return wal.Open(dir)
}

// serveWAL takes pushed WAL on wal_socket until ctx ends, and reads the servers'
// WAL positions while their spools are empty. Without wal_socket it does nothing.
func (a *Agent) serveWAL(ctx context.Context) error {
	if a.cfg.WALSocket == "" {
		return nil
	}
	ln, err := wal.Listen(a.cfg.WALSocket)
	if err != nil {
		return fmt.Errorf("agent %s: wal_socket: %w", a.cfg.Name, err)
	}
	r := &wal.Receiver{Log: a.log, Allowed: wal.PushUsers(), Spool: a.walSpool}
	go func() { _ = r.Serve(ln) }()
	go func() {
		<-ctx.Done()
		ln.Close()
		os.Remove(a.cfg.WALSocket)
	}()
	go a.watchWALPositions(ctx)
	a.log.Info("WAL socket listening", "socket", a.cfg.WALSocket)
	return nil
}

// walTargets lists the targets this agent protects continuously, with their sections.
func (a *Agent) walTargets() map[string]walTarget {
	out := map[string]walTarget{}
	ents, err := os.ReadDir(a.walDir())
	if err != nil {
		return out
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(a.walDir(), e.Name(), walTargetFile))
		var wt walTarget
		if err == nil && json.Unmarshal(data, &wt) == nil {
			out[e.Name()] = wt
		}
	}
	return out
}

// walStates is what each spool holds, for the heartbeat; with the server's WAL
// position when the spool is empty.
func (a *Agent) walStates() map[string]WALState {
	var out map[string]WALState
	for name := range a.walTargets() {
		st, err := (&wal.Spool{Dir: filepath.Join(a.walDir(), name)}).State()
		if err != nil {
			a.log.Error("WAL spool not read", "target", name, "err", err)
			continue
		}
		ws := WALState{State: st}
		a.mu.Lock()
		p, ok := a.walPos[name]
		a.mu.Unlock()
		if ok && st.Files == 0 {
			ws.Position, ws.Asked = &p.pos, p.asked
		}
		if out == nil {
			out = map[string]WALState{}
		}
		out[name] = ws
	}
	return out
}

// WALPositioner is what a continuous target's implementation tells of its server
// (targets/postgres.Target).
type WALPositioner interface {
	CurrentWAL(ctx context.Context) (postgres.WALPosition, error)
}

// IdlePosition asks p's server where its WAL ends while spool is empty, for the idle
// check (the daemon's, engine/walidle.go, and an agent's): ok is false when the spool
// holds files, before the question or after it (pushed meanwhile); err is the
// server's failure to answer.
func IdlePosition(ctx context.Context, spool *wal.Spool, p WALPositioner, iv time.Duration) (pos postgres.WALPosition, asked time.Time, ok bool, err error) {
	if names, err := spool.Names(); err != nil || len(names) > 0 {
		return pos, asked, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, max(iv, 10*time.Second))
	defer cancel()
	asked = time.Now()
	if pos, err = p.CurrentWAL(ctx); err != nil {
		return pos, asked, false, err
	}
	names, nerr := spool.Names()
	return pos, asked, nerr == nil && len(names) == 0, nil
}

// watchWALPositions reads, once per archive interval, where the server of each
// target with an empty spool has its WAL end.
func (a *Agent) watchWALPositions(ctx context.Context) {
	last := map[string]time.Time{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for name, wt := range a.walTargets() {
			impl, err := wt.impl(name, a.log)
			if err != nil {
				continue
			}
			iv, _ := postgres.IsContinuous(impl.spec)
			p, ok := impl.t.(WALPositioner)
			if !ok || time.Since(last[name]) < iv {
				continue
			}
			last[name] = time.Now()
			a.readWALPosition(ctx, name, p, iv)
		}
	}
}

func (a *Agent) readWALPosition(ctx context.Context, name string, p WALPositioner, iv time.Duration) {
	pos, asked, ok, err := IdlePosition(ctx, &wal.Spool{Dir: filepath.Join(a.walDir(), name)}, p, iv)
	if err != nil {
		a.log.Debug("WAL: the server's position not read", "target", name, "err", err)
	}
	if !ok {
		return
	}
	a.mu.Lock()
	a.walPos[name] = walPosition{pos: pos, asked: asked}
	a.mu.Unlock()
}

// builtTarget is a target kind's implementation with its decoded section.
type builtTarget struct {
	t    targets.Target
	spec any
}

func (wt walTarget) impl(name string, log *slog.Logger) (builtTarget, error) {
	return buildTarget(wt.Kind, name, wt.Agency, wt.Spec, log)
}

// buildTarget makes the implementation of a target of kind from its section.
func buildTarget(kind, name, agency string, section json.RawMessage, log *slog.Logger) (builtTarget, error) {
	k, ok := targets.Lookup(kind)
	if !ok {
		return builtTarget{}, fmt.Errorf("kind %q is not known to this agent", kind)
	}
	spec := k.NewConfig()
	if err := json.Unmarshal(section, spec); err != nil {
		return builtTarget{}, fmt.Errorf("target %q: %w", name, err)
	}
	impl, err := k.New(targets.Spec{Name: name, Agency: agency, Config: spec, Logger: log})
	if err != nil {
		return builtTarget{}, err
	}
	return builtTarget{t: impl, spec: spec}, nil
}

// continuousJob prepares a job of a target in mode: continuous: a base backup keeps
// the target's section beside its spool (from then on its WAL is taken); a WAL job
// becomes the batch of the spool, and after (called once the result is in the
// outbox) removes the files it stored.
func (a *Agent) continuousJob(sec *Secret, impl targets.Target, spec any) (targets.Target, func(), error) {
	if _, ok := postgres.IsContinuous(spec); !ok {
		if sec.WAL {
			return nil, nil, fmt.Errorf("target %q is not a postgres target in mode: continuous", sec.Target)
		}
		return impl, nil, nil
	}
	if a.cfg.WALSocket == "" {
		return nil, nil, fmt.Errorf("target %q is in mode: continuous, and agent %s has no wal_socket in %s to take its WAL", sec.Target, a.cfg.Name, a.cfg.File)
	}
	dir := filepath.Join(a.walDir(), sec.Target)
	if !sec.WAL {
		data, _ := json.Marshal(walTarget{Kind: sec.Kind, Agency: sec.Agency, Spec: sec.Spec})
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, err
		}
		return impl, nil, writeFileSync(filepath.Join(dir, walTargetFile), data)
	}
	spool, err := a.walSpool(sec.Target)
	if err != nil {
		return nil, nil, err
	}
	size := spool.SegmentSize()
	gaps, err := spool.Gaps(size)
	if err != nil {
		return nil, nil, err
	}
	if len(gaps) > 0 {
		// Stored all the same (the files after a hole are no use to a restore past it,
		// but they are what there is); the controller raises the alarm.
		a.log.Error("WAL chain broken", "target", sec.Target, "missing", gaps[0].From)
	}
	batch, err := NewWALBatch(spool)
	if err != nil {
		return nil, nil, fmt.Errorf("target %q on agent %s: %w", sec.Target, a.cfg.Name, err)
	}
	return batch, func() {
		if err := spool.Remove(batch.Names, size); err != nil {
			a.log.Error("WAL spool: archived segments not removed", "target", sec.Target, "err", err)
		}
	}, nil
}

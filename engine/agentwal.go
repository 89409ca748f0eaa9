package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/cadang/cadang/engine/cluster"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/runs"
	"github.com/cadang/cadang/internal/oneline"
	"github.com/cadang/cadang/targets/postgres"
)

// A postgres target in mode: continuous pinned to an agent (agent: hyp-07) pushes its
// WAL to that agent's wal_socket, into a spool on the agent's host
// (engine/cluster/agentwal.go). The controller sees the spool in the agent's
// heartbeats: every archive interval it raises the wal-gap alarm for the holes the
// agent names, and queues a batch run when the spool holds files, which the agent
// stores from its spool as one snapshot (cluster.Secret.WAL). A heartbeat older than
// the end of the last batch is not trusted: it may show files the batch removed.

// archiveOnAgent is archiveWAL for a target whose spool is on its agent; done is called
// when the batch run ended, or at once when none is queued.
func (d *Daemon) archiveOnAgent(t *target, done func()) error {
	if d.beats == nil {
		done()
		return fmt.Errorf("target %s runs on agent %s, and this daemon has no cluster", t.Cfg.Name, t.Cfg.Agent)
	}
	now := time.Now()
	st, beat, ok := d.beats.walState(t.Cfg.Agent, t.Cfg.Name, now)
	if v, seen := d.walBatched.Load(t.Cfg.Name); ok && seen && !beat.After(v.(time.Time)) {
		ok = false // from before the last batch's end: wait for the next heartbeat
	}
	if !ok {
		done()
		return nil
	}
	for _, g := range st.Gaps {
		d.log.Error("WAL chain broken", "target", t.Cfg.Name, "agent", t.Cfg.Agent, "missing", g.From, "to", g.To)
		d.raiseLogGap(t, g.From, oneline.Of(g.String())+": a restore cannot go past "+g.After+" until a new base backup")
	}
	if st.Files == 0 {
		if st.Position != nil && st.LastArchived != "" {
			iv, _ := postgres.IsContinuous(t.Cfg.Spec)
			d.noteWALPosition(t.Cfg.Name, st.LastArchived, *st.Position, st.Asked, iv) // walidle.go
		}
		done()
		return nil
	}
	return d.submitWALBatch(t, func(ctx context.Context, j *queue.Job, run func(*runs.Target) error) error {
		defer done()
		// The batch is the agent's to make: an empty one says so to agentRemote.
		err := run(&runs.Target{Cfg: walBatchConfig(t), Impl: &cluster.WALBatch{}})
		if err != nil {
			return fmt.Errorf("WAL batch of target %s on agent %s: %w", t.Cfg.Name, t.Cfg.Agent, err)
		}
		return nil
	})
}

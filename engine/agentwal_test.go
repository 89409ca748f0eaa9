package engine

import (
	"testing"
	"time"

	"github.com/cadang/cadang/engine/cluster"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/runs"
	"github.com/cadang/cadang/engine/wal"
	"github.com/cadang/cadang/targets/postgres"
)

// The controller's view of a continuous target's spool on an agent: an empty spool
// queues nothing, and the server's WAL position the agent read makes an idle server up
// to date; a heartbeat from before the last batch's end is not trusted, nor one of an
// agent that is down.
func TestArchiveOnAgentIdleServer(t *testing.T) {
	now := time.Now()
	tg := &runs.Target{Cfg: &config.Target{Name: "pg", Agency: "dinkes", Kind: "postgres", Agent: "db-01",
		Spec: &postgres.Config{Database: "app", Mode: postgres.ModeContinuous, ArchiveInterval: 2 * time.Second}}}
	last := "000000010000000000000005"
	beat := func(d *Daemon, at time.Time, asked time.Time, segment string) {
		d.beats.seen("db-01", &cluster.Heartbeat{Name: "db-01", Time: at, WAL: map[string]cluster.WALState{"pg": {
			State:    wal.State{LastArchived: last},
			Position: &postgres.WALPosition{Segment: segment, LSN: "0/5000100", SegmentSize: 16 << 20}, Asked: asked}}}, at)
	}
	newDaemon := func() *Daemon {
		return &Daemon{beats: newAgentCache(config.Cluster{HeartbeatTimeout: time.Minute, Agents: []config.ClusterAgent{{Name: "db-01"}}})}
	}
	archive := func(d *Daemon) {
		t.Helper()
		called := false
		if err := d.archiveOnAgent(tg, func() { called = true }); err != nil || !called {
			t.Fatalf("archiveOnAgent: %v, done called %v", err, called)
		}
	}
	upToDate := func(d *Daemon) time.Time {
		v, ok := d.walUpToDate.Load("pg")
		if !ok {
			return time.Time{}
		}
		return v.(time.Time)
	}

	d := newDaemon()
	asked := now.Add(-time.Second)
	beat(d, now, asked, last)
	archive(d)
	if got := upToDate(d); !got.Equal(asked) {
		t.Errorf("idle server on the agent: up to date at %v, want %v", got, asked)
	}

	// The server's WAL is past the last segment stored: not up to date (yet).
	d = newDaemon()
	beat(d, now, asked, "000000010000000000000007")
	archive(d)
	if got := upToDate(d); !got.IsZero() {
		t.Errorf("a server with WAL to store found up to date at %v", got)
	}

	// A heartbeat from before the last batch ended says nothing.
	d = newDaemon()
	d.walBatched.Store("pg", now.Add(time.Second))
	beat(d, now, asked, last)
	archive(d)
	if got := upToDate(d); !got.IsZero() {
		t.Errorf("a heartbeat older than the last batch was trusted: up to date at %v", got)
	}

	// An agent silent for longer than the heartbeat timeout says nothing either.
	d = newDaemon()
	beat(d, now.Add(-2*time.Minute), asked, last)
	archive(d)
	if got := upToDate(d); !got.IsZero() {
		t.Errorf("the heartbeat of an agent that is down was trusted: up to date at %v", got)
	}
}

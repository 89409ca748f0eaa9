package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/targets"
)

// Remote executes the target part of a backup on a cadang agent (cluster:, a target
// with agent: or agent_pool:): the daemon's engine/cluster dispatcher implements it.
// The run around it (repository, snapshot record, replication, retention) stays here.
type Remote interface {
	// Backup runs t on an agent, restic writing to repo with tags, and returns what
	// the agent reports. ack, called once the result is recorded, lets the transport
	// forget it.
	Backup(ctx context.Context, j *queue.Job, t *Target, repo *drc.Repo, tags []string) (res *RemoteResult, ack func(), err error)
}

// RemoteResult is an agent's report of a backup.
type RemoteResult struct {
	Agent    string
	Summary  *drc.BackupSummary
	Partial  bool
	Error    string
	Notes    []string
	Manifest json.RawMessage
}

// remote reports whether t's backups run on an agent.
func (x *Runner) remote(t *Target) bool {
	return x.rem != nil && (t.Cfg.Agent != "" || t.Cfg.AgentPool != "")
}

// remoteBackup stands for t.Impl.Backup when the target runs on an agent.
func (x *Runner) remoteBackup(ctx context.Context, j *queue.Job, t *Target, w *writer) (*targets.BackupResult, error) {
	rr, ack, err := x.rem.Backup(ctx, j, t, w.repo, w.tags)
	if err != nil {
		return nil, err
	}
	w.remoteAck = ack
	j.Run.Agent = rr.Agent
	j.Publish()
	w.summary = rr.Summary
	res := &targets.BackupResult{Manifest: rr.Manifest, Notes: rr.Notes}
	switch {
	case rr.Error == "":
		return res, nil
	case rr.Partial:
		return res, fmt.Errorf("%w: %s", drc.ErrPartial, rr.Error)
	}
	return res, errors.New(rr.Error)
}

// interrupted reports whether err ends a run as interrupted though its context is
// live: an agent whose lease expired.
func interrupted(err error) bool {
	var i interface{ Interrupted() bool }
	return errors.As(err, &i) && i.Interrupted()
}

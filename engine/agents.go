package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/cluster"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/notify"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/runs"
	"github.com/cadang/cadang/internal/oneline"
)

// openCluster starts the embedded NATS server or connects to the external one when
// the config has cluster: (docs/agents.md).
func (d *Daemon) openCluster() error {
	cfg := d.conf().cfg
	if !cfg.Cluster.Enabled() {
		return nil
	}
	c, err := cluster.Open(context.Background(), cfg.Cluster, cfg.StateDir, cluster.Options{Logger: d.log, Orphan: d.adoptResult})
	if err != nil {
		return err
	}
	d.cluster = c
	d.beats = newAgentCache(cfg.Cluster)
	go c.WatchHeartbeats(context.Background(), d.beats.seen, d.beats.loaded)
	d.log.Info("cluster: dispatching to agents", "listen", cfg.Cluster.Listen, "url", cfg.Cluster.URL, "agents", len(cfg.Cluster.Agents))
	return nil
}

// agentCache holds the agents' last heartbeats, fed by a watch of the bucket
// cadang_agents (cluster.WatchHeartbeats), so that a status answer or a metrics scrape
// costs no NATS round trip.
type agentCache struct {
	agents  []config.ClusterAgent // as enrolled when the cluster opened (its users are made then)
	timeout time.Duration         // cluster.heartbeat_timeout
	ready   chan struct{}         // closed once the bucket's first values are in

	mu    sync.Mutex
	beats map[string]agentBeat
}

type agentBeat struct {
	h  cluster.Heartbeat
	at time.Time // when it arrived (the server's time)
}

func newAgentCache(c config.Cluster) *agentCache {
	return &agentCache{agents: c.Agents, timeout: c.HeartbeatTimeout, ready: make(chan struct{}), beats: map[string]agentBeat{}}
}

func (c *agentCache) seen(name string, h *cluster.Heartbeat, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h == nil {
		delete(c.beats, name)
		return
	}
	b := agentBeat{h: *h, at: at}
	b.h.Running = append([]uint64(nil), h.Running...)
	c.beats[name] = b
}

func (c *agentCache) loaded() { close(c.ready) }

// walState is what agent's last heartbeat said of target's WAL spool, and whether the
// agent is up.
func (c *agentCache) walState(agent, target string, now time.Time) (cluster.WALState, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.beats[agent]
	if !ok || now.Sub(b.at) > c.timeout {
		return cluster.WALState{}, time.Time{}, false
	}
	st, ok := b.h.WAL[target]
	return st, b.h.Time, ok
}

// statuses lists the enrolled agents as of now, by name.
func (c *agentCache) statuses(now time.Time) []cluster.AgentStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]cluster.AgentStatus, 0, len(c.agents))
	for _, a := range c.agents {
		s := cluster.AgentStatus{Name: a.Name, Pool: a.Pool, Running: []uint64{}}
		if b, ok := c.beats[a.Name]; ok {
			s.Host, s.Version, s.Capacity, s.LastSeen = b.h.Host, b.h.Version, b.h.Capacity, b.at
			if b.h.Running != nil {
				s.Running = append(s.Running, b.h.Running...)
			}
			s.Up = now.Sub(b.at) <= c.timeout
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// agentStatuses lists the enrolled agents with their last heartbeat (nil without
// cluster:), from the cache the bucket's watch feeds. Until the watch has read the
// bucket once (at start) it waits for it, at most 5 s: an agent is not called down
// because its heartbeat was not read yet.
func (d *Daemon) agentStatuses() []cluster.AgentStatus {
	if d.cluster == nil || d.beats == nil {
		return nil
	}
	select {
	case <-d.beats.ready:
	case <-time.After(5 * time.Second):
		d.log.Warn("cluster: the agents' heartbeats are not read yet")
		return nil
	}
	return d.beats.statuses(time.Now())
}

// lookAtAgents raises agent.down for each enrolled agent silent for longer than
// cluster.heartbeat_timeout (or never heard from), and clears it once the agent beats
// again.
func (d *Daemon) lookAtAgents(lang string, now time.Time) {
	timeout := d.conf().cfg.Cluster.HeartbeatTimeout
	for _, a := range d.agentStatuses() {
		e := notify.Event{Kind: notify.AgentDown, Subject: "agent/" + a.Name, Time: now}
		if a.Up {
			e.Title = fmt.Sprintf(words{"Agen %s aktif kembali", "Agent %s is up again"}.in(lang), a.Name)
			e.Text = e.Title
			d.notifier.Clear(e)
			continue
		}
		seen := words{"belum pernah mengirim heartbeat", "has never sent a heartbeat"}.in(lang)
		if !a.LastSeen.IsZero() {
			seen = fmt.Sprintf(words{"mengirim heartbeat terakhir pada %s", "sent its last heartbeat at %s"}.in(lang), a.LastSeen.UTC().Format(time.RFC3339))
		}
		e.Title = fmt.Sprintf(words{"Agen %s tidak aktif", "Agent %s is down"}.in(lang), a.Name)
		e.Text = fmt.Sprintf(words{"Agen %s %s (batas %s).", "Agent %s %s (timeout %s)."}.in(lang), a.Name, seen, timeout)
		d.notifier.Raise(e)
	}
}

// remote is the runs.Remote of the daemon: nil without cluster:.
func (d *Daemon) remote() runs.Remote {
	if d.cluster == nil {
		return nil
	}
	return agentRemote{d}
}

type agentRemote struct{ d *Daemon }

// Backup implements runs.Remote: it seals the DRC's credentials, the repository's
// password and the target's section to the agent's key and dispatches the job.
func (a agentRemote) Backup(ctx context.Context, j *queue.Job, t *runs.Target, repo *drc.Repo, tags []string) (*runs.RemoteResult, func(), error) {
	cfg := a.d.conf().cfg
	dc, ok := cfg.DRC(repo.DRC)
	if !ok {
		return nil, nil, fmt.Errorf("unknown drc %q", repo.DRC)
	}
	site := cluster.Site{Name: dc.Name, Path: dc.Path}
	if dc.S3 != nil {
		s3 := *dc.S3
		creds, err := s3.ReadCredentials()
		if err != nil {
			return nil, nil, fmt.Errorf("drc %q: %w", dc.Name, err)
		}
		s3.AccessKey, s3.SecretKey, s3.AccessKeyFile, s3.SecretKeyFile = creds.AccessKey, creds.SecretKey, "", ""
		site.S3 = &s3
	}
	pw, err := os.ReadFile(filepath.Join(cfg.StateDir, "keys", repo.DRC, repo.Agency+".key"))
	if err != nil {
		return nil, nil, fmt.Errorf("agency %q has no repository password for drc %q", repo.Agency, repo.DRC)
	}
	spec, err := json.Marshal(t.Cfg.Spec)
	if err != nil {
		return nil, nil, err
	}
	unusable, err := a.unusable(t.Cfg.Name, repo.DRC)
	if err != nil {
		return nil, nil, err
	}
	j.SetProgress(func(p *api.Progress) { p.Phase = "waiting for an agent" })
	_, batch := t.Impl.(*cluster.WALBatch) // agentwal.go: the agent stores its spool
	q := cluster.Request{Run: j.Run.ID, Agent: t.Cfg.Agent, Pool: t.Cfg.AgentPool, Secret: cluster.Secret{
		Target: t.Cfg.Name, Agency: t.Cfg.Agency, Kind: t.Cfg.Kind, Spec: spec, Tags: tags, DRC: site,
		Password: string(trimNewline(pw)), Unusable: unusable, WAL: batch,
	}}
	res, ack, err := a.d.cluster.Dispatch(ctx, q, func(p cluster.Progress) {
		j.SetProgress(func(q *api.Progress) {
			q.Phase = p.Phase + " on agent " + p.Agent
			q.PercentDone, q.BytesDone, q.TotalBytes = p.PercentDone, p.BytesDone, p.TotalBytes
		})
	})
	if err != nil {
		return nil, nil, err
	}
	if batch {
		a.d.walBatched.Store(t.Cfg.Name, res.Ended)
	}
	return &runs.RemoteResult{Agent: res.Agent, Summary: res.Summary, Partial: res.Partial, Error: res.Error, Notes: res.Notes,
			Manifest: res.Manifest}, func() {
			if err := ack(); err != nil {
				a.d.log.Warn("cluster: result not acknowledged; it will be offered again", "run", j.Run.ID, "err", err)
			}
		}, nil
}

// unusable lists the snapshots of target the catalog knows are not good, or damaged
// at drc: the agent's targets.History passes over them (cluster.Secret.Unusable).
func (a agentRemote) unusable(target, site string) ([]string, error) {
	recs, err := a.d.cat.Snapshots(target)
	if err != nil {
		return nil, fmt.Errorf("catalog: the snapshots of target %q: %w", target, err)
	}
	var ids []string
	for _, r := range recs {
		if _, damaged := r.Damaged[site]; r.Status != catalog.SnapshotGood || damaged {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// adoptResult records an agent's result that no running dispatch waits for: its run
// was dispatched before this daemon restarted (and recorded interrupted then). The
// snapshot it wrote is recorded and replicated; the run gets the agent's outcome.
func (d *Daemon) adoptResult(res *cluster.Result) error {
	r, err := d.cat.Run(res.Run)
	if err != nil {
		return err
	}
	if r.Status != catalog.Running && r.Status != catalog.Interrupted {
		// Recorded already: a redelivery of the same result, or the result of a job
		// JetStream handed to a second agent (a pool's job whose first agent's lease
		// ran out while no controller watched); the first outcome recorded stands.
		if r.Agent != res.Agent {
			var snap string
			if res.Summary != nil {
				snap = res.Summary.SnapshotID
			}
			d.log.Warn("cluster: a second result of a run already recorded is left out", "run", r.ID, "agent", res.Agent,
				"recorded_from", r.Agent, "its_snapshot", snap)
		}
		return nil
	}
	if r.Status == catalog.Running && d.queue.Get(r.ID) != nil {
		return errors.New("its run is still being dispatched")
	}
	r.Agent, r.Started, r.Ended = res.Agent, res.Started, res.Ended
	r.Notes = append(r.Notes, "result delivered by agent "+res.Agent+" after the daemon restarted")
	r.Notes = append(r.Notes, res.Notes...)
	switch {
	case res.Error == "":
		r.Status, r.Error = catalog.Succeeded, ""
	case res.Partial:
		r.Status, r.Error = catalog.Partial, oneline.Of(res.Error)
	default:
		r.Status, r.Error = catalog.Failed, oneline.Of(res.Error)
	}
	if s := res.Summary; s != nil && s.SnapshotID != "" {
		r.SnapshotID, r.BytesProcessed, r.BytesAdded, r.BytesStored = s.SnapshotID, s.TotalBytesProcessed, s.DataAdded, s.DataAddedPacked
		r.FilesProcessed, r.FilesNew, r.FilesChanged = s.TotalFilesProcessed, s.FilesNew, s.FilesChanged
		status := catalog.SnapshotGood
		switch r.Status {
		case catalog.Partial:
			status = catalog.SnapshotPartial
		case catalog.Failed:
			status = catalog.SnapshotBad
		}
		if status != catalog.SnapshotGood {
			// The repository must say it too, as after a run of the daemon's own
			// (runs.recordSnapshot); if it cannot now, the next retention run does.
			if err := d.tagAdopted(r, status); err != nil {
				r.Notes = append(r.Notes, oneline.Of("snapshot recorded as "+status+" in the catalog; tagging it in the repository failed: "+err.Error()))
			}
		}
		if err := d.cat.MergeSnapshot(&catalog.Snapshot{ID: r.SnapshotID, Target: r.Target, Agency: r.Agency, Kind: r.Kind,
			Time: s.BackupStart, RunID: r.ID, Status: status, DRC: r.DRC, Sites: map[string]time.Time{r.DRC: d.now()},
			Bytes: s.TotalBytesProcessed}, true); err != nil {
			return err
		}
	}
	if err := d.cat.UpdateRun(r); err != nil {
		return err
	}
	if r.SnapshotID != "" {
		d.repl.AfterBackup(r)
	}
	if t := d.conf().targets[r.Target]; t != nil && r.Status == catalog.Succeeded {
		d.afterBackup(r.ID, t) // its retention, as after any good backup
	}
	d.log.Info("cluster: an agent's result recorded after a restart", "run", r.ID, "agent", res.Agent, "status", r.Status)
	return nil
}

// tagAdopted tags the snapshot of an adopted run that is not good (status=partial or
// status=bad) in the repository it was written to, and takes the snapshot's new id.
func (d *Daemon) tagAdopted(r *catalog.Run, status string) error {
	site, err := d.sites.site(r.DRC)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	newID, err := d.conf().runs.TagNotGood(ctx, site.Repo(r.Agency), r.SnapshotID, status)
	if err != nil {
		return err
	}
	r.SnapshotID = newID
	return nil
}

// mustRebuild makes st's runner again once the cluster is open (its remote).
func (d *Daemon) mustRebuild(st *setup) *setup {
	n, err := d.build(st.cfg)
	if err != nil {
		return st // built once already: cannot fail now
	}
	return n
}

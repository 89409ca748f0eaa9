package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/mirror"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/internal/iec"
	"github.com/cadang/cadang/internal/oneline"
)

// Host is what the replicator needs of the daemon.
type Host interface {
	// Submit records a run and queues it; exec does its work when it starts.
	Submit(r *catalog.Run, priority int, exec func(context.Context, *queue.Job) error) (catalog.Run, error)
	// Job returns a queued or running job, or nil.
	Job(id uint64) *queue.Job
	// PassDone is called after a pass that listed both DRCs of agency: a prune that
	// PruneGate held back may go now.
	PassDone(agency string)
	// DamageFound is called when a pass recorded a damaged object at a DRC: its
	// repair is queued.
	DamageFound(drc, agency string)
}

// primary returns the primary DRC.
func (rp *Replicator) primary() *drc.Site { return rp.sites[0] }

// Secondaries returns the secondary DRCs.
func (rp *Replicator) Secondaries() []*drc.Site { return rp.sites[1:] }

// site returns the DRC named name.
func (rp *Replicator) site(name string) (*drc.Site, error) {
	for _, s := range rp.sites {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("unknown drc %q", name)
}

// Replicator keeps every secondary DRC in step with the primary (see mirror.Mirror):
//
//   - after each backup at the primary, a replicate run per secondary copies the new
//     snapshot there;
//   - in the background, every DRC's health is probed (every 30s, or its
//     replication.interval if shorter) and, every replication.interval, a cheap scan
//     (two listings) per agency and secondary queues a replicate run when there is
//     work: a backlog after an outage, a snapshot written at a secondary while the
//     primary was down, deletions whose grace is over. A DRC that comes back is
//     scanned at once, so backlogs drain with no manual step.
//
// Replicate runs are ordinary runs (op "replicate", drc = the secondary, agency set,
// no target): they show in `cadang runs` and obey the queue's limits. At most one is
// queued per (secondary, agency) at a time, and they run one at a time per pair.
type Replicator struct {
	sites []*drc.Site // primary first
	cat   *catalog.Catalog
	cfg   func() *config.Config // the configuration the daemon runs now (agencies reload)
	log   *slog.Logger
	now   func() time.Time
	host  Host

	mu         sync.Mutex
	pairs      map[string]*pairState
	health     map[string]drc.Health
	limiters   map[string]*mirror.Limiter
	contents   map[string]*mirror.Contents // by agency
	lagOver    map[string]bool             // secondaries whose lag objective is exceeded
	due        map[string]bool             // DRCs to scan at once (they came back)
	down       map[string]string           // DRCs a takeover marked down, and why: work is not routed to them
	wake       chan struct{}
	extended   map[string]time.Time       // drc/agency -> when a pass last extended retention there (immutable DRCs)
	overlaps   map[string]*overlap        // by agency: backups writing at the primary now (overlap.go)
	overlapped map[string]mirror.Transfer // drc/agency -> packs copied while backups ran, for the next pass's notes
}

type pairState struct {
	run     sync.Mutex // held by the executing replicate run
	queued  uint64     // a replicate run queued and not started yet
	running bool
}

// New returns the replicator of a daemon's DRCs (sites, the primary first).
func New(sites []*drc.Site, cat *catalog.Catalog, cfg func() *config.Config, log *slog.Logger, now func() time.Time, host Host) *Replicator {
	rp := &Replicator{sites: sites, cat: cat, cfg: cfg, log: log, now: now, host: host, pairs: map[string]*pairState{}, health: map[string]drc.Health{}, limiters: map[string]*mirror.Limiter{},
		contents: map[string]*mirror.Contents{}, lagOver: map[string]bool{}, due: map[string]bool{}, down: map[string]string{}, wake: make(chan struct{}, 1),
		extended: map[string]time.Time{}, overlaps: map[string]*overlap{}, overlapped: map[string]mirror.Transfer{}}
	for _, s := range sites {
		rp.limiters[s.Name] = mirror.NewLimiter(s.Replication.Bandwidth)
	}
	return rp
}

func (rp *Replicator) pair(drcName, agency string) *pairState {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	k := drcName + "/" + agency
	if rp.pairs[k] == nil {
		rp.pairs[k] = &pairState{}
	}
	return rp.pairs[k]
}

func (rp *Replicator) ContentsFor(agency string) *mirror.Contents {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.contents[agency] == nil {
		rp.contents[agency] = mirror.NewContents(agency)
	}
	return rp.contents[agency]
}

// Trigger queues a replicate run of (secondary, agency) unless one is queued already;
// it returns the id of the run that will do the work.
func (rp *Replicator) Trigger(drcName, agency, reason string) (uint64, error) {
	site, err := rp.site(drcName)
	if err != nil {
		return 0, err
	}
	if site.Role != drc.RoleSecondary {
		return 0, fmt.Errorf("drc %q is the primary: replication goes from it to the secondaries", drcName)
	}
	ps := rp.pair(drcName, agency)
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if id := rp.queuedRun(ps); id != 0 {
		return id, nil
	}
	// rp.mu is held until ps.queued is set, so that the run cannot start (and clear
	// it) before.
	r := &catalog.Run{Op: "replicate", Agency: agency, DRC: drcName, Reason: reason}
	queued, err := rp.host.Submit(r, queue.PriorityScheduled, func(ctx context.Context, j *queue.Job) error {
		rp.mu.Lock()
		if ps.queued == j.Run.ID {
			ps.queued = 0
		}
		rp.mu.Unlock()
		return rp.replicate(ctx, j, ps, site)
	})
	if err != nil {
		return 0, err
	}
	ps.queued = queued.ID
	return queued.ID, nil
}

// queuedRun returns the pair's replicate run that waits in the queue, or 0; rp.mu is
// held.
func (rp *Replicator) queuedRun(ps *pairState) uint64 {
	if ps.queued == 0 {
		return 0
	}
	if j := rp.host.Job(ps.queued); j != nil {
		if v, _, _ := j.State(); v.Status == catalog.Queued {
			return ps.queued
		}
	}
	ps.queued = 0 // cancelled before it started
	return 0
}

// AfterBackup queues replication of a snapshot just written at the primary.
func (rp *Replicator) AfterBackup(r *catalog.Run) {
	if r.SnapshotID == "" || r.DRC != rp.primary().Name {
		return // routed to a secondary: it comes back when the primary does
	}
	for _, s := range rp.Secondaries() {
		if _, err := rp.Trigger(s.Name, r.Agency, fmt.Sprintf("after backup run %d", r.ID)); err != nil && !errors.Is(err, queue.ErrClosed) {
			rp.log.Error("cannot queue replication", "drc", s.Name, "agency", r.Agency, "err", err)
		}
	}
}

// replicate is one replicate run: one pass of the mirror for (secondary, agency).
func (rp *Replicator) replicate(ctx context.Context, j *queue.Job, ps *pairState, sec *drc.Site) error {
	r := j.Run
	j.SetProgress(func(p *api.Progress) { p.Phase = "waiting for the previous pass" })
	ps.run.Lock()
	defer ps.run.Unlock()
	rp.mu.Lock()
	ps.running = true
	rp.mu.Unlock()
	defer func() {
		rp.mu.Lock()
		ps.running = false
		rp.mu.Unlock()
	}()

	prim := rp.primary()
	log := rp.log.With("run", r.ID, "drc", sec.Name, "agency", r.Agency)
	j.SetProgress(func(p *api.Progress) { p.Phase = "checking drcs" })
	// Both DRCs at once: each answers, and whether it has the agency's repository.
	var exP, exS bool
	var errs [2]error
	var wg sync.WaitGroup
	for i, s := range []*drc.Site{prim, sec} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Check(ctx); err != nil {
				rp.SetHealth(drc.Health{DRC: s.Name, Error: err.Error(), Checked: rp.now()})
				errs[i] = err
				return
			}
			ex, err := s.Repo(r.Agency).Exists(ctx)
			if i == 0 {
				exP = ex
			} else {
				exS = ex
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if !exP && !exS {
		r.Notes = append(r.Notes, fmt.Sprintf("agency %q has no repository yet: nothing to replicate", r.Agency))
		return nil
	}
	if !exP || !exS {
		j.SetProgress(func(p *api.Progress) { p.Phase = "seeding" })
		for _, res := range drc.Ensure(ctx, []*drc.Site{prim, sec}, r.Agency) {
			if res.Error != "" {
				return errors.New(res.Error)
			}
			if res.Action == "seeded" || res.Action == "created" {
				r.Notes = append(r.Notes, fmt.Sprintf("repository %s at drc %q from drc %q", res.Action, res.DRC, res.From))
			}
		}
	}

	settings := sec.Replication.Effective()
	extend := rp.extensionDue(sec, r.Agency)
	m := &mirror.Mirror{
		ExtendRetention: extend, Retain: retainOf(sec),
		Primary: prim.Repo(r.Agency), Secondary: sec.Repo(r.Agency), Contents: rp.ContentsFor(r.Agency),
		Workers: settings.Workers, Limiter: rp.limiters[sec.Name], DeleteAfter: settings.DeleteAfter,
		Ledger: &pairLedger{cat: rp.cat, drc: sec.Name, agency: r.Agency, now: rp.now}, Now: rp.now, Log: log,
		Progress: func(mp mirror.MirrorProgress) {
			j.SetProgress(func(p *api.Progress) {
				p.Phase = "replicating " + mp.Phase
				p.FilesDone, p.TotalFiles = uint64(mp.ObjectsDone), uint64(mp.Objects)
				p.BytesDone, p.TotalBytes = uint64(mp.BytesDone), uint64(mp.Bytes)
				p.PercentDone = 0
				if mp.Bytes > 0 {
					p.PercentDone = float64(mp.BytesDone) / float64(mp.Bytes)
				}
			})
		},
		OnAlarm:    func(a mirror.Alarm) { rp.raise(a) },
		OnSnapshot: func(site, id string) { rp.arrived(ctx, site, r.Agency, id) },
		OnDeleted:  func(site, id string) { rp.left(site, id) },
	}
	if note := rp.takeOverlapped(sec.Name, r.Agency); note != "" {
		r.Notes = append(r.Notes, note)
	}
	listedAt := rp.now() // the pass lists both DRCs after this
	res, err := m.Run(ctx)
	if res != nil && res.Retention != nil && len(res.Failures) == 0 && ctx.Err() == nil {
		rp.mu.Lock()
		rp.extended[sec.Name+"/"+r.Agency] = listedAt
		rp.mu.Unlock()
	}
	rp.Record(ctx, r, prim, sec, res, err, listedAt)
	return err
}

// Record puts what a pass did into the run, the ledger and the pair's state.
func (rp *Replicator) Record(ctx context.Context, r *catalog.Run, prim, sec *drc.Site, res *mirror.MirrorResult, err error, listedAt time.Time) {
	now := rp.now()
	r.BytesAdded = uint64(res.Copied.Bytes + res.BroughtBack.Bytes)
	r.BytesProcessed = r.BytesAdded
	r.FilesProcessed = uint64(res.Copied.Objects + res.BroughtBack.Objects)
	if len(res.NewSnapshots) == 1 {
		r.SnapshotID = res.NewSnapshots[0]
	}
	summary := fmt.Sprintf("copied %d objects (%s) to drc %q", res.Copied.Objects, iec.Bytes(res.Copied.Bytes), sec.Name)
	if res.BroughtBack.Objects > 0 {
		summary += fmt.Sprintf(", brought %d back to drc %q (%d snapshots)", res.BroughtBack.Objects, prim.Name, len(res.BroughtBackSnapshots))
	}
	if res.Deleted.Objects > 0 {
		summary += fmt.Sprintf(", deleted %d there (%d snapshots)", res.Deleted.Objects, len(res.DeletedSnapshots))
	}
	r.Notes = append(r.Notes, summary)
	r.Notes = append(r.Notes, res.Notes...)
	for id, why := range res.HeldBack {
		r.Notes = append(r.Notes, fmt.Sprintf("snapshot %s waits: %s", id[:8], why))
	}
	if b, jerr := json.Marshal(res); jerr == nil {
		r.Manifest = b
	}

	if res.PrimarySnapshots != nil {
		rp.reconcile(ctx, r.Agency, prim, res.PrimarySnapshots, listedAt)
		rp.reconcile(ctx, r.Agency, sec, res.SecondarySnapshots, listedAt)
	}
	st := catalog.ReplState{DRC: sec.Name, Agency: r.Agency, LastPass: now, LastRun: r.ID,
		PendingObjects: res.Pending.Objects, PendingBytes: res.Pending.Bytes, PendingDeletions: res.PendingDeletions,
		NextDeletion: res.NextDeletion, HeldBack: len(res.HeldBack)}
	if old := rp.state(sec.Name, r.Agency); old != nil {
		st.LastSuccess = old.LastSuccess
	}
	if err == nil {
		st.LastSuccess = now
		raised := map[string]bool{}
		for _, a := range res.Alarms {
			raised[a.Kind+"\x00"+a.DRC+"\x00"+a.Object] = true
		}
		resolved, rerr := rp.cat.ResolveAlarms(r.Agency, []string{prim.Name, sec.Name}, func(a catalog.Alarm) bool {
			switch a.Kind {
			case catalog.AlarmDamaged:
				return true // damage stays raised until it is repaired, not when a pass no longer trips on it
			case "wal-gap": // engine.AlarmWALGap: a hole in a continuous target's WAL or binlog chain, not the pass's to resolve
				return true
			case catalog.AlarmDataLost:
				// A loss stays raised while a snapshot that lost data is kept.
				stands, err := rp.cat.LossRemains(a.DRC, a.Agency)
				return stands || err != nil
			}
			return raised[a.Kind+"\x00"+a.DRC+"\x00"+a.Object]
		}, now)
		if rerr != nil {
			rp.log.Error("catalog", "err", rerr)
		}
		for _, a := range resolved {
			rp.log.Info("replication alarm resolved", "alarm", a.ID, "kind", a.Kind, "drc", a.DRC, "agency", a.Agency, "object", a.Object)
		}
	} else {
		st.LastError = oneline.Of(err.Error())
		if drc.IsUnreachable(err) {
			for _, s := range []*drc.Site{prim, sec} {
				if strings.Contains(err.Error(), fmt.Sprintf("drc %q", s.Name)) {
					rp.SetHealth(drc.Health{DRC: s.Name, Error: oneline.Of(err.Error()), Checked: now})
				}
			}
		}
	}
	if perr := rp.cat.PutReplState(&st); perr != nil {
		rp.log.Error("catalog", "err", perr)
	}
	if res.PrimarySnapshots != nil {
		rp.host.PassDone(r.Agency)
	}
}

func (rp *Replicator) state(drcName, agency string) *catalog.ReplState {
	states, err := rp.cat.ReplStates()
	if err != nil {
		return nil
	}
	for i := range states {
		if states[i].DRC == drcName && states[i].Agency == agency {
			return &states[i]
		}
	}
	return nil
}

// raise records an alarm; a new one is logged as an error (the mirror logged the
// occurrence already).
func (rp *Replicator) raise(a mirror.Alarm) {
	isNew, err := rp.cat.RaiseAlarm(catalog.Alarm{Kind: a.Kind, DRC: a.DRC, Agency: a.Agency, Object: a.Object, Message: a.Message}, rp.now())
	if err != nil {
		rp.log.Error("catalog: cannot record an alarm", "err", err, "alarm", a.Message)
		return
	}
	if isNew {
		rp.log.Error("ALARM", "kind", a.Kind, "drc", a.DRC, "agency", a.Agency, "object", a.Object, "msg", a.Message)
	}
	if a.Kind == mirror.AlarmHashMismatch || a.Kind == mirror.AlarmUnreadable {
		if _, _, err := rp.cat.RecordDamage(catalog.Damage{DRC: a.DRC, Agency: a.Agency, Object: a.Object, How: "replication", Message: a.Message}, rp.now()); err != nil {
			rp.log.Error("catalog: cannot record damage", "err", err, "object", a.Object)
			return
		}
		rp.host.DamageFound(a.DRC, a.Agency)
	}
}

// arrived records in the ledger that a snapshot is restorable at a DRC from now on.
func (rp *Replicator) arrived(ctx context.Context, site, agency, id string) {
	now := rp.now()
	err := rp.cat.UpdateSnapshot(id, func(s *catalog.Snapshot) error {
		if s.Sites == nil {
			s.Sites = map[string]time.Time{}
		}
		if _, ok := s.Sites[site]; !ok {
			s.Sites[site] = now
		}
		return nil
	})
	if errors.Is(err, catalog.ErrNotFound) {
		s, serr := rp.site(site)
		if serr == nil {
			rp.learn(ctx, agency, s, []string{id}, now)
		}
		return
	}
	if err != nil {
		rp.log.Error("catalog: ledger", "snapshot", id, "drc", site, "err", err)
	}
}

// left records that a snapshot is no longer at a DRC.
func (rp *Replicator) left(site, id string) {
	err := rp.cat.UpdateSnapshot(id, func(s *catalog.Snapshot) error {
		delete(s.Sites, site)
		return nil
	})
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		rp.log.Error("catalog: ledger", "snapshot", id, "drc", site, "err", err)
	}
}

// reconcile makes the ledger say exactly which of agency's snapshots a DRC holds,
// from a complete listing of its snapshot files: snapshots gone from it (forgotten,
// or deleted after their grace) lose that DRC, snapshots found there gain it, and
// snapshots the catalog does not know (a lost catalog, a restic run by hand) are
// learned from the repository's tags. The listing was taken after listedAt: a snapshot
// recorded at the DRC since (a backup that ended during the pass) is not in it, and
// keeps that DRC.
func (rp *Replicator) reconcile(ctx context.Context, agency string, site *drc.Site, ids []string, listedAt time.Time) {
	now := rp.now()
	there := map[string]bool{}
	for _, id := range ids {
		there[id] = true
	}
	recs, err := rp.cat.AgencySnapshots(agency)
	if err != nil {
		rp.log.Error("catalog", "err", err)
		return
	}
	known := map[string]bool{}
	for _, rec := range recs {
		known[rec.ID] = true
		at, listed := rec.Sites[site.Name]
		if listed == there[rec.ID] || listed && !at.Before(listedAt) {
			continue
		}
		err := rp.cat.UpdateSnapshot(rec.ID, func(s *catalog.Snapshot) error {
			switch at, ok := s.Sites[site.Name]; {
			case there[s.ID] && !ok:
				if s.Sites == nil {
					s.Sites = map[string]time.Time{}
				}
				s.Sites[site.Name] = now
			case !there[s.ID] && ok && at.Before(listedAt): // checked again: it may have come meanwhile
				delete(s.Sites, site.Name)
			}
			return nil
		})
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			rp.log.Error("catalog: ledger", "snapshot", rec.ID, "err", err)
		}
	}
	var unknown []string
	for _, id := range ids {
		if !known[id] {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		rp.learn(ctx, agency, site, unknown, now)
	}
}

// learn records snapshots the catalog did not know, from their files at a DRC. Only
// snapshots cadang made (tagged with a target of this agency) are recorded.
func (rp *Replicator) learn(ctx context.Context, agency string, site *drc.Site, ids []string, now time.Time) {
	snaps, err := rp.ContentsFor(agency).ReadSnapshots(ctx, site.Repo(agency), ids)
	if err != nil {
		rp.log.Warn("cannot read snapshot files to learn them", "drc", site.Name, "agency", agency, "err", err)
	}
	for _, s := range snaps {
		if s.Tag("agency") != agency || s.Tag("target") == "" {
			continue
		}
		status := s.Tag(catalog.StatusTag)
		if status == "" {
			status = catalog.SnapshotGood
		}
		run, _ := strconv.ParseUint(s.Tag("run"), 10, 64)
		rec := &catalog.Snapshot{ID: s.ID, Target: s.Tag("target"), Agency: agency, Kind: s.Tag("kind"), Time: s.Time,
			RunID: run, Status: status, DRC: site.Name, Sites: map[string]time.Time{site.Name: now}}
		if s.Summary != nil {
			rec.Bytes = s.Summary.TotalBytesProcessed
		}
		// The backup that wrote it, or another DRC, may have recorded it meanwhile:
		// merge rather than replace.
		err := rp.cat.MergeSnapshot(rec, false)
		if err == nil {
			rp.log.Info("snapshot learned from its repository", "snapshot", s.ShortID, "target", rec.Target, "drc", site.Name)
		}
		if err != nil {
			rp.log.Error("catalog: ledger", "snapshot", s.ID, "err", err)
		}
	}
}

// pairLedger is a mirror.MirrorLedger in the catalog.
type pairLedger struct {
	cat         *catalog.Catalog
	drc, agency string
	now         func() time.Time
}

func (l *pairLedger) SeenAt(drcName string) (map[string]bool, error) {
	seen, err := l.cat.SeenSnapshots(drcName, l.agency)
	out := make(map[string]bool, len(seen))
	for id := range seen {
		out[id] = true
	}
	return out, err
}

func (l *pairLedger) MarkSeen(drcName string, ids []string) error {
	return l.cat.MarkSeen(drcName, l.agency, ids, l.now())
}

func (l *pairLedger) PendingDeletions() (map[string]time.Time, error) {
	return l.cat.PendingDeletions(l.drc, l.agency)
}

func (l *pairLedger) SetPendingDeletions(m map[string]time.Time) error {
	return l.cat.SetPendingDeletions(l.drc, l.agency, m)
}

// SetHealth records a DRC's health; a DRC that comes back is scanned at once.
func (rp *Replicator) SetHealth(h drc.Health) {
	rp.mu.Lock()
	old, had := rp.health[h.DRC]
	rp.health[h.DRC] = h
	back := had && !old.Reachable && h.Reachable
	if back {
		rp.due[h.DRC] = true
	}
	rp.mu.Unlock()
	switch {
	case back:
		rp.log.Info("drc is reachable again", "drc", h.DRC, "down_since", old.Checked)
		rp.poke()
	case (!had || old.Reachable) && !h.Reachable:
		rp.log.Warn("drc is unreachable", "drc", h.DRC, "err", h.Error)
	}
}

func (rp *Replicator) poke() {
	select {
	case rp.wake <- struct{}{}:
	default:
	}
}

// HealthOf returns the last known health of a DRC (zero if never probed).
func (rp *Replicator) HealthOf(name string) (drc.Health, bool) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	h, ok := rp.health[name]
	return h, ok
}

// probeEvery is how often a DRC's health is probed.
func (rp *Replicator) probeEvery(s *drc.Site) time.Duration {
	every := 30 * time.Second
	for _, sec := range rp.Secondaries() {
		if sec == s || s.Role == drc.RolePrimary {
			every = min(every, sec.Replication.Effective().Interval)
		}
	}
	return every
}

// Loop probes the DRCs and scans for work until ctx ends.
func (rp *Replicator) Loop(ctx context.Context) {
	lastProbe := map[string]time.Time{}
	lastScan := map[string]time.Time{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		now := time.Now()
		for _, s := range rp.sites {
			if now.Sub(lastProbe[s.Name]) >= rp.probeEvery(s) {
				lastProbe[s.Name] = now
				pctx, cancel := context.WithTimeout(ctx, drc.CheckTimeout+5*time.Second)
				rp.SetHealth(s.Health(pctx, rp.now))
				cancel()
			}
		}
		primaryBack := rp.takeDue(rp.primary().Name)
		for _, s := range rp.Secondaries() {
			if rp.takeDue(s.Name) || primaryBack || now.Sub(lastScan[s.Name]) >= s.Replication.Effective().Interval {
				lastScan[s.Name] = now
				rp.scanAll(ctx, s)
			}
		}
		rp.checkLag()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-rp.wake:
		}
	}
}

func (rp *Replicator) takeDue(name string) bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	due := rp.due[name]
	delete(rp.due, name)
	return due
}

func (rp *Replicator) reachable(name string) bool {
	h, ok := rp.HealthOf(name)
	return !ok || h.Reachable
}

// scanAll scans every agency's pair with a secondary and queues runs where there is
// work; it records what waits, for `cadang drc status`.
func (rp *Replicator) scanAll(ctx context.Context, sec *drc.Site) {
	prim := rp.primary()
	if !rp.reachable(prim.Name) || !rp.reachable(sec.Name) {
		return // the health loop scans again when both answer
	}
	for _, a := range rp.cfg().Agencies {
		if ctx.Err() != nil {
			return
		}
		if !prim.HasKey(a.ID) && !sec.HasKey(a.ID) {
			continue // no repository anywhere yet
		}
		ps := rp.pair(sec.Name, a.ID)
		rp.mu.Lock()
		busy := rp.queuedRun(ps) != 0 || ps.running
		rp.mu.Unlock()
		if busy {
			continue
		}
		reason := "background"
		if prim.HasKey(a.ID) && sec.HasKey(a.ID) {
			m := &mirror.Mirror{Primary: prim.Repo(a.ID), Secondary: sec.Repo(a.ID), DeleteAfter: sec.Replication.Effective().DeleteAfter,
				Ledger: &pairLedger{cat: rp.cat, drc: sec.Name, agency: a.ID, now: rp.now}, Now: rp.now}
			sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			scan, err := m.Scan(sctx)
			cancel()
			if err != nil {
				rp.log.Debug("replication scan failed", "drc", sec.Name, "agency", a.ID, "err", err)
				if drc.IsUnreachable(err) {
					return
				}
				continue
			}
			if st := rp.state(sec.Name, a.ID); st != nil {
				st.PendingObjects, st.PendingBytes = scan.ToCopy.Objects, scan.ToCopy.Bytes
				_ = rp.cat.PutReplState(st)
			}
			extend := rp.extensionDue(sec, a.ID)
			if !scan.Work() && !extend {
				continue
			}
			switch {
			case !scan.Work():
				reason = "background: retention extension"
			case scan.ToBringBack > 0:
				reason = fmt.Sprintf("background: %d snapshot(s) to bring back to drc %q", scan.ToBringBack, prim.Name)
			case scan.ToCopy.Objects > 0:
				reason = fmt.Sprintf("background: %d object(s) (%s) to copy", scan.ToCopy.Objects, iec.Bytes(scan.ToCopy.Bytes))
			default:
				reason = "background: deletions"
			}
		}
		if _, err := rp.Trigger(sec.Name, a.ID, reason); err != nil && !errors.Is(err, queue.ErrClosed) {
			rp.log.Error("cannot queue replication", "drc", sec.Name, "agency", a.ID, "err", err)
		}
	}
}

// extensionDue tells whether a pass to an immutable secondary should extend the
// retention of what is still needed there: at most once per mirror.ExtendEvery (a
// day, or retain/2 if shorter) per DRC and agency, and at the first pass after the
// daemon starts.
func (rp *Replicator) extensionDue(sec *drc.Site, agency string) bool {
	if !sec.Immutable() {
		return false
	}
	rp.mu.Lock()
	last, ok := rp.extended[sec.Name+"/"+agency]
	rp.mu.Unlock()
	return !ok || rp.now().Sub(last) >= mirror.ExtendEvery(sec.Immutability.Retain)
}

func retainOf(s *drc.Site) time.Duration {
	if s.Immutability == nil {
		return 0
	}
	return s.Immutability.Retain
}

// checkLag logs when a secondary's lag objective starts and stops being exceeded.
func (rp *Replicator) checkLag() {
	for _, s := range rp.Secondaries() {
		maxLag := s.Replication.MaxLag
		if maxLag <= 0 {
			continue
		}
		lag := rp.Lag(s.Name)
		over := lag.Lag > maxLag
		rp.mu.Lock()
		was := rp.lagOver[s.Name]
		rp.lagOver[s.Name] = over
		rp.mu.Unlock()
		switch {
		case over && !was:
			rp.log.Warn("replication lag objective exceeded", "drc", s.Name, "lag", lag.Lag.Round(time.Second), "max_lag", maxLag,
				"oldest_snapshot", lag.Oldest, "target", lag.OldestTarget, "snapshots_pending", lag.Snapshots)
		case !over && was:
			rp.log.Info("replication lag back within its objective", "drc", s.Name, "max_lag", maxLag)
		}
	}
}

// Lag is how far a secondary is behind the primary, from the ledger.
type Lag struct {
	Lag          time.Duration
	Oldest       string // the oldest snapshot at the primary not yet at the secondary
	OldestTarget string
	Since        time.Time // when it became restorable at the primary
	Snapshots    int       // snapshots at the primary not yet at the secondary
	// Bytes is what those snapshots added to the repository at the primary (their
	// backup runs' stored bytes): at least what is left to copy for them, from the
	// ledger as it is now, not from the last pass (which a DRC that is down does not
	// make).
	Bytes int64
}

// Where work goes when a DRC is down.
//
// A backup goes to the primary. When the primary does not answer (an outage: the
// network, the server, a mount; not a wrong secret or a missing bucket, which are
// mistakes to fix), it goes to the first secondary that answers, and the run and the
// snapshot record say so. When the primary is back, replication brings the snapshot
// back to it (mirror.Mirror). A secondary that never held the agency's repository is not
// used if the primary did: a new, different repository there would never converge.
//
// A restore without --drc reads from the primary, or from the first secondary that
// answers if the primary does not.

// MarkDown marks a DRC down (a takeover: its site is lost): backups and restores are
// not routed to it, as if it did not answer, until MarkUp. Replication still brings
// it what it lacks whenever it answers.
func (rp *Replicator) MarkDown(name, why string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.down[name] = why
}

// MarkUp undoes MarkDown.
func (rp *Replicator) MarkUp(name string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	delete(rp.down, name)
}

// Down lists the DRCs marked down, by name.
func (rp *Replicator) Down() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	out := make([]string, 0, len(rp.down))
	for name := range rp.down {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// check checks a DRC, unless it is marked down.
func (rp *Replicator) check(ctx context.Context, s *drc.Site) error {
	rp.mu.Lock()
	why, down := rp.down[s.Name]
	rp.mu.Unlock()
	if down {
		return fmt.Errorf("%w: drc %q is marked down: %s", drc.ErrUnreachable, s.Name, why)
	}
	return s.Check(ctx)
}

// BackupSite chooses the DRC a backup writes to; note says why it is not the primary.
func (rp *Replicator) BackupSite(ctx context.Context, agency string) (site *drc.Site, note string, err error) {
	prim := rp.primary()
	perr := rp.check(ctx, prim)
	if perr == nil || !drc.IsUnreachable(perr) || len(rp.sites) == 1 {
		return prim, "", nil // prepareRepo reports any problem of the primary
	}
	if !errors.Is(perr, drc.ErrUnreachable) || !strings.Contains(perr.Error(), "marked down") {
		rp.SetHealth(drc.Health{DRC: prim.Name, Error: perr.Error(), Checked: rp.now()})
	}
	var tried []string
	for _, s := range rp.Secondaries() {
		err := rp.check(ctx, s)
		var missing *drc.MissingDirError
		if err != nil && !errors.As(err, &missing) {
			tried = append(tried, err.Error())
			continue
		}
		exists, err := s.Repo(agency).Exists(ctx)
		if err != nil {
			tried = append(tried, err.Error())
			continue
		}
		if !exists && prim.HasKey(agency) {
			tried = append(tried, fmt.Sprintf("drc %q has no repository for agency %q yet", s.Name, agency))
			continue
		}
		return s, fmt.Sprintf("primary unreachable (%s): backed up to drc %q instead; the snapshot goes to drc %q when it is back",
			oneline.Of(perr.Error()), s.Name, prim.Name), nil
	}
	if len(tried) > 0 {
		return nil, "", fmt.Errorf("%v; no secondary can take the backup: %s", perr, oneline.Of(fmt.Sprint(tried)))
	}
	return nil, "", perr
}

// RestoreSite is the DRC a restore reads from: the one asked for, or the primary, or,
// when the primary does not answer and none was asked for, the first secondary that
// answers.
func (rp *Replicator) RestoreSite(ctx context.Context, j *queue.Job, site *drc.Site, chosen bool) (*drc.Site, error) {
	err := site.Check(ctx)
	if !chosen && site == rp.primary() && err == nil {
		err = rp.check(ctx, site) // marked down?
	}
	if err == nil || chosen || site != rp.primary() || !drc.IsUnreachable(err) {
		return site, err
	}
	for _, s := range rp.Secondaries() {
		if rp.check(ctx, s) == nil {
			j.Run.DRC = s.Name
			j.Run.Notes = append(j.Run.Notes, fmt.Sprintf("primary unreachable (%s): restored from drc %q", oneline.Of(err.Error()), s.Name))
			j.Publish()
			return s, nil
		}
	}
	return nil, err
}

// PruneGate says whether a prune of agency's repository at the primary may run now:
// not while a secondary holds snapshots the primary has never had (written there
// while the primary was down, not brought back yet). Until they are back, restic's
// prune at the primary would not know that they need some packs, and could delete
// packs that those snapshots, once brought back, would need there. The prune path
// (retention) calls this before `restic forget --prune`; with it, prune never deletes
// an object that a snapshot at any DRC needs:
//   - at the primary, restic's prune keeps what the primary's snapshots need, and every
//     snapshot at any DRC is at the primary (this gate);
//   - at a secondary, nothing is ever pruned by restic: the mirror deletes only what
//     the primary no longer has, after delete_after, and never what a snapshot still at
//     the secondary needs (mirror.Mirror).
//
// After a prune, the caller should ask for a replication pass (Trigger) so that
// the deletion grace starts at once.
func (rp *Replicator) PruneGate(agency string) error {
	recs, err := rp.cat.AgencySnapshots(agency)
	if err != nil {
		return err
	}
	prim := rp.primary().Name
	seen, err := rp.cat.SeenSnapshots(prim, agency)
	if err != nil {
		return err
	}
	var waiting []string
	for _, s := range recs {
		if _, atP := s.Sites[prim]; !atP && len(s.Sites) > 0 && seen[s.ID].IsZero() {
			waiting = append(waiting, s.ID[:8])
		}
	}
	if len(waiting) > 0 {
		return fmt.Errorf("agency %q: %d snapshot(s) written at a secondary are not back at drc %q yet (%v): prune waits for replication",
			agency, len(waiting), prim, waiting)
	}
	return nil
}

// NeededAnywhere returns the pack files (data/xx/<id>) that the snapshots of agency
// at any reachable DRC need, for a prune path that wants to check its plan against
// every DRC. A DRC that cannot be read is an error: "needed" must not be guessed.
func (rp *Replicator) NeededAnywhere(ctx context.Context, agency string) (map[string]bool, error) {
	var repos []*drc.Repo
	for _, s := range rp.sites {
		repos = append(repos, s.Repo(agency))
	}
	return rp.ContentsFor(agency).NeededPacks(ctx, repos...)
}

// Lag is how far a secondary is behind the primary, from the ledger.
func (rp *Replicator) Lag(secName string) Lag {
	var out Lag
	prim := rp.primary().Name
	for _, a := range rp.cfg().Agencies {
		recs, err := rp.cat.AgencySnapshots(a.ID)
		if err != nil {
			continue
		}
		for _, s := range recs {
			at, atP := s.Sites[prim]
			if _, atS := s.Sites[secName]; !atP || atS {
				continue
			}
			out.Snapshots++
			if s.RunID != 0 {
				if r, err := rp.cat.Run(s.RunID); err == nil {
					out.Bytes += int64(r.BytesStored)
				}
			}
			if out.Since.IsZero() || at.Before(out.Since) {
				out.Since, out.Oldest, out.OldestTarget = at, s.ID, s.Target
			}
		}
	}
	if !out.Since.IsZero() {
		out.Lag = max(0, rp.now().Sub(out.Since))
	}
	return out
}

// Soon queues a replicate run of agency to every secondary (one already
// waiting covers it).
func (rp *Replicator) Soon(agency, why string) {
	for _, s := range rp.Secondaries() {
		if _, err := rp.Trigger(s.Name, agency, why); err != nil && !errors.Is(err, queue.ErrClosed) {
			rp.log.Warn("cannot queue replication", "drc", s.Name, "agency", agency, "why", why, "err", err)
		}
	}
}

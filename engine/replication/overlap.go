package replication

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/mirror"
	"github.com/cadang/cadang/internal/iec"
)

// OverlapEvery is how often, while a backup writes at the primary, its finished packs
// are looked for (one listing of the primary's data/ per secondary) and copied.
const OverlapEvery = time.Second

// overlap is the copy of one agency's packs to the secondaries while backups of it
// write at the primary.
type overlap struct {
	backups int           // backups of the agency writing at the primary now
	stop    chan struct{} // closed when the last one ends
}

// BackupStarted tells the replicator that a backup of agency starts writing at
// drcName; the function it returns tells it that the backup ended (call it once; more
// calls do nothing). While a backup writes at the primary, the packs restic has
// finished writing there are copied to every secondary that answers (mirror.Overlap),
// so that the pass after the backup has only the last packs, the index and the
// snapshot files left to copy. The ledger, and what a pass verifies before a snapshot
// counts as at a secondary, do not change.
func (rp *Replicator) BackupStarted(agency, drcName string) (ended func()) {
	if drcName != rp.primary().Name || len(rp.Secondaries()) == 0 {
		return func() {}
	}
	rp.mu.Lock()
	ov := rp.overlaps[agency]
	if ov == nil {
		ov = &overlap{stop: make(chan struct{})}
		rp.overlaps[agency] = ov
		for _, sec := range rp.Secondaries() {
			go rp.overlapLoop(agency, sec, ov.stop)
		}
	}
	ov.backups++
	rp.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			rp.mu.Lock()
			defer rp.mu.Unlock()
			if ov.backups--; ov.backups == 0 {
				close(ov.stop)
				delete(rp.overlaps, agency)
			}
		})
	}
}

// overlapLoop copies agency's finished packs to sec every OverlapEvery until stop is
// closed. A round is skipped while a replicate run of the pair runs (it copies them),
// and the loop ends if either DRC does not answer or has no repository: the pass
// after the backup deals with that as always.
func (rp *Replicator) overlapLoop(agency string, sec *drc.Site, stop <-chan struct{}) {
	// A round under way when the backup ends finishes: its packs are due anyway, and
	// the pass after the backup waits for it (the pair's lock) rather than copying
	// them twice.
	ctx := context.Background()
	prim := rp.primary()
	log := rp.log.With("drc", sec.Name, "agency", agency)
	if !sec.Replication.Overlaps() {
		return // replication: {overlap: false}
	}
	rp.mu.Lock()
	_, down := rp.down[sec.Name]
	h, probed := rp.health[sec.Name]
	rp.mu.Unlock()
	if down || (probed && !h.Reachable) {
		return
	}
	settings := sec.Replication.Effective()
	m := &mirror.Mirror{Primary: prim.Repo(agency), Secondary: sec.Repo(agency), Workers: settings.Workers,
		Limiter: rp.limiters[sec.Name], Log: log}
	o := m.NewOverlap()
	ps := rp.pair(sec.Name, agency)
	started := time.Now()
	defer func() {
		if c := o.Copied(); c.Objects > 0 {
			log.Info("packs copied while the backup ran", "objects", c.Objects, "bytes", c.Bytes, "took", time.Since(started).Round(time.Millisecond))
		}
	}()
	// Both DRCs must hold the same repository: the pass says why not, with an alarm.
	cp, err := drc.ReadObject(ctx, prim.Repo(agency).Store, "config")
	if err != nil {
		return
	}
	cs, err := drc.ReadObject(ctx, sec.Repo(agency).Store, "config")
	if err != nil || string(cp) != string(cs) {
		return
	}
	// The pass after the backup needs the repository's master key (scrypt: seconds on a
	// busy host): open it now, while the backup runs.
	go func() { _, _ = rp.ContentsFor(agency).MasterKey(ctx, prim.Repo(agency), sec.Repo(agency)) }()
	// What is at the primary already is the backlog of the passes, not this backup's.
	if err := o.Start(ctx); err != nil {
		log.Debug("overlapped copy stops", "err", err)
		return
	}
	t := time.NewTimer(OverlapEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if !ps.run.TryLock() {
			t.Reset(OverlapEvery) // a replicate run of the pair is copying them
			continue
		}
		begin := time.Now()
		done, err := o.Round(ctx)
		if done.Objects > 0 {
			// Before the pair's lock is released: the pass that takes it next reports them.
			rp.mu.Lock()
			t := rp.overlapped[sec.Name+"/"+agency]
			t.Objects += done.Objects
			t.Bytes += done.Bytes
			rp.overlapped[sec.Name+"/"+agency] = t
			rp.mu.Unlock()
		}
		ps.run.Unlock()
		if err != nil {
			if ctx.Err() == nil {
				log.Debug("overlapped copy stops", "err", err)
			}
			return
		}
		// A long listing (a large repository) is not repeated back to back.
		t.Reset(max(OverlapEvery, 2*time.Since(begin)))
	}
}

// takeOverlapped returns (and forgets) what was copied to sec for agency while
// backups ran, as a note for the pass that follows, or "".
func (rp *Replicator) takeOverlapped(sec, agency string) string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	t, ok := rp.overlapped[sec+"/"+agency]
	if !ok {
		return ""
	}
	delete(rp.overlapped, sec+"/"+agency)
	return fmt.Sprintf("%d packs (%s) were copied to drc %q while the backup ran", t.Objects, iec.Bytes(t.Bytes), sec)
}

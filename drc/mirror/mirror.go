package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/resticfmt"
	"github.com/cadang/cadang/internal/oneline"
)

// Mirror keeps one agency's repository at a secondary DRC in step with the primary:
// an object-level copy of restic's immutable, content-addressed files. One pass (Run):
//
//  1. compares the config objects (they must be byte-identical: the same repository);
//     keys/ stay per DRC and locks/ are never copied;
//  2. brings back to the primary the snapshots the primary has never had (written at
//     the secondary while the primary was down), with everything they need; a primary
//     whose repository is empty (lost and re-created) gets everything back;
//  3. copies the primary's new objects to the secondary: data packs, then index files,
//     then snapshot files. A snapshot file is copied only once every blob it needs is
//     in a pack at the secondary that an index file there lists, so the secondary is a
//     consistent restic repository at every moment, even if the primary changes (a
//     prune) during the pass;
//  4. deletes at the secondary what the primary no longer has, once it has been gone
//     from the primary for DeleteAfter, and never an object that a snapshot still at
//     the secondary needs (the deletion holds an exclusive restic lock there).
//
// Every object is verified while it streams: its SHA-256 must be its name, and the
// last bytes are held back until it is, so a damaged object never reaches the other
// DRC (a mismatch read twice is an alarm). Objects already at the destination are not
// copied again, so a pass that was interrupted resumes where it stopped.
type Mirror struct {
	Primary, Secondary *drc.Repo // the same agency's repository at both DRCs
	Contents           *Contents
	Workers            int           // parallel transfers (default DefaultWorkers)
	Limiter            *Limiter      // the secondary's bandwidth cap, or nil
	DeleteAfter        time.Duration // default DefaultDeleteAfter
	Ledger             MirrorLedger
	Now                func() time.Time
	// ExtendRetention asks this pass to extend the retention of what the secondary
	// still needs, if it is immutable (retention.go); Retain is its immutability.retain.
	ExtendRetention bool
	Retain          time.Duration
	Log             *slog.Logger

	// Optional observers, called as things happen. OnAlarm, OnSnapshot and OnDeleted
	// are called one at a time, never concurrently, although objects are copied in
	// parallel.
	Progress   func(MirrorProgress)
	OnAlarm    func(Alarm)
	OnSnapshot func(drc, id string) // a snapshot file arrived at drc: it is restorable there now
	OnDeleted  func(drc, id string) // a snapshot file was deleted at drc

	observers sync.Mutex // serializes OnAlarm, OnSnapshot and OnDeleted
}

// MirrorLedger is what a mirror remembers between passes (cadang keeps it in its
// catalog), for one agency and one secondary.
type MirrorLedger interface {
	// SeenAt returns the snapshots ever seen at drc.
	SeenAt(drc string) (map[string]bool, error)
	// MarkSeen records that the snapshots are at drc now.
	MarkSeen(drc string, ids []string) error
	// PendingDeletions returns, for each object at the secondary that the primary does
	// not have, when the mirror first saw it missing there.
	PendingDeletions() (map[string]time.Time, error)
	SetPendingDeletions(map[string]time.Time) error
}

// Alarm is damage found by replication: something an operator must look at.
type Alarm struct {
	Kind    string `json:"kind"` // hash-mismatch, unreadable, different-repository, missing-blob
	DRC     string `json:"drc"`  // where the damaged object is
	Agency  string `json:"agency"`
	Object  string `json:"object,omitempty"`
	Message string `json:"message"` // one line
}

// Alarm kinds.
const (
	AlarmHashMismatch  = "hash-mismatch"
	AlarmDifferentRepo = "different-repository"
	AlarmMissingBlob   = "missing-blob"
	AlarmUnreadable    = "unreadable" // the DRC answers but never gives the object whole
)

// MirrorProgress is reported while a pass runs.
type MirrorProgress struct {
	Phase       string `json:"phase"`
	Objects     int    `json:"objects"`
	ObjectsDone int    `json:"objects_done"`
	Bytes       int64  `json:"bytes"`
	BytesDone   int64  `json:"bytes_done"`
}

// Transfer counts objects and bytes.
type Transfer struct {
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
}

func (t *Transfer) add(size int64) { t.Objects++; t.Bytes += size }

// MirrorResult is what a pass did and what is left.
type MirrorResult struct {
	Copied      Transfer `json:"copied"`       // primary -> secondary
	BroughtBack Transfer `json:"brought_back"` // secondary -> primary
	Deleted     Transfer `json:"deleted"`      // at the secondary
	Repaired    int      `json:"repaired,omitempty"`
	Rebuild     bool     `json:"rebuild,omitempty"` // the primary's repository was empty

	NewSnapshots         []string          `json:"new_snapshots,omitempty"`
	BroughtBackSnapshots []string          `json:"brought_back_snapshots,omitempty"`
	DeletedSnapshots     []string          `json:"deleted_snapshots,omitempty"`
	HeldBack             map[string]string `json:"held_back,omitempty"` // snapshot -> why it was not copied yet

	PrimarySnapshots   []string `json:"-"`
	SecondarySnapshots []string `json:"-"`

	Retention *RetentionPass `json:"retention,omitempty"` // set when the pass extended retention
	// Locked counts the deletions due at an immutable secondary that wait because the
	// objects' retention has not expired yet (they are retried by later passes).
	Locked int `json:"locked,omitempty"`
	// Denied counts the expired objects the secondary's key may not delete (a key that
	// cannot delete): left for a lifecycle rule, and pending.
	Denied int `json:"denied,omitempty"`

	Pending          Transfer  `json:"pending"` // primary objects still missing at the secondary
	PendingDeletions int       `json:"pending_deletions"`
	NextDeletion     time.Time `json:"next_deletion,omitzero"`
	Notes            []string  `json:"notes,omitempty"`

	Alarms   []Alarm  `json:"alarms,omitempty"`
	Failures []string `json:"failures,omitempty"` // one line each

	mu sync.Mutex
}

const maxFailures = 20

func (r *MirrorResult) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.Failures) < maxFailures {
		r.Failures = append(r.Failures, oneline.Of(msg))
	}
}

func (r *MirrorResult) note(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Notes = append(r.Notes, oneline.Of(msg))
}

// Err summarizes what went wrong in the pass, as one line, or nil.
func (r *MirrorResult) Err() error {
	switch {
	case len(r.Alarms) > 0:
		return fmt.Errorf("%d alarm(s): %s", len(r.Alarms), r.Alarms[0].Message)
	case len(r.Failures) > 0:
		return fmt.Errorf("%d failure(s): %s", len(r.Failures), r.Failures[0])
	}
	return nil
}

// Run makes one pass. It returns what it did even when it also returns an error; the
// error is one line naming the DRC (and the object).
func (m *Mirror) Run(ctx context.Context) (*MirrorResult, error) {
	if m.Workers <= 0 {
		m.Workers = drc.DefaultWorkers
	}
	if m.DeleteAfter <= 0 {
		m.DeleteAfter = drc.DefaultDeleteAfter
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	if m.Log == nil {
		m.Log = slog.New(slog.DiscardHandler)
	}
	if m.Contents == nil {
		m.Contents = NewContents(m.Primary.Agency)
	}
	p, s := m.Primary, m.Secondary
	res := &MirrorResult{HeldBack: map[string]string{}}

	if err := m.compareConfig(ctx); err != nil {
		return res, err
	}
	m.progress(MirrorProgress{Phase: "listing"})
	// Both DRCs at once (each in restic's reverse writing order, listRepo).
	var ls *listing
	var errS error
	listedS := make(chan struct{})
	go func() { ls, errS = listRepo(ctx, s.Store); close(listedS) }()
	lp, err := listRepo(ctx, p.Store)
	<-listedS
	if err != nil {
		return res, fmt.Errorf("drc %q: listing agency %q: %w", p.DRC, p.Agency, err)
	}
	if errS != nil {
		return res, fmt.Errorf("drc %q: listing agency %q: %w", s.DRC, s.Agency, errS)
	}
	// The master key takes a moment (scrypt): open it while the data is copied.
	var key *resticfmt.Key
	var keyErr error
	keyDone := make(chan struct{})
	go func() { key, keyErr = m.Contents.MasterKey(ctx, p, s); close(keyDone) }()
	getKey := func() (*resticfmt.Key, error) { <-keyDone; return key, keyErr }
	defer func() { <-keyDone }()
	seenP, err := m.Ledger.SeenAt(p.DRC)
	if err != nil {
		return res, err
	}
	if err := m.Ledger.MarkSeen(p.DRC, sortedKeys(lp.snapshots)); err != nil {
		return res, err
	}

	// Snapshots the primary has never had were written at the secondary while the
	// primary was down: they go back, never away.
	res.Rebuild = len(lp.snapshots) == 0 && len(lp.index) == 0 && len(lp.data) == 0 && len(ls.snapshots) > 0
	var born []string
	for id := range ls.snapshots {
		if _, atP := lp.snapshots[id]; !atP && (res.Rebuild || !seenP[id]) {
			born = append(born, id)
		}
	}
	sort.Strings(born)
	if len(born) > 0 {
		m.bringBack(ctx, getKey, lp, ls, born, res)
	}
	if ctx.Err() == nil {
		m.push(ctx, getKey, m.newJob(p, s, lp, ls, res), nil)
	}
	if ctx.Err() == nil && !res.Rebuild {
		m.deletions(ctx, getKey, lp, ls, born, res)
	}
	if ctx.Err() == nil {
		m.extendRetention(ctx, lp, ls, born, res)
	}
	if err := m.Ledger.MarkSeen(p.DRC, sortedKeys(lp.snapshots)); err != nil {
		res.fail(err.Error())
	}
	if err := m.Ledger.MarkSeen(s.DRC, sortedKeys(ls.snapshots)); err != nil {
		res.fail(err.Error())
	}
	m.Contents.forget(unionKeys(lp.index, ls.index))

	res.PrimarySnapshots, res.SecondarySnapshots = sortedKeys(lp.snapshots), sortedKeys(ls.snapshots)
	for _, kind := range []string{"data", "index", "snapshots"} {
		for id, size := range lp.kind(kind) {
			if _, ok := ls.kind(kind)[id]; !ok {
				res.Pending.add(size)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("replication to drc %q interrupted: %w", s.DRC, context.Cause(ctx))
	}
	return res, res.Err()
}

func (m *Mirror) progress(p MirrorProgress) {
	if m.Progress != nil {
		m.Progress(p)
	}
}

func (m *Mirror) alarm(res *MirrorResult, a Alarm) {
	a.Message = oneline.Of(a.Message)
	res.mu.Lock()
	res.Alarms = append(res.Alarms, a)
	res.mu.Unlock()
	m.Log.Error("replication alarm", "kind", a.Kind, "drc", a.DRC, "agency", a.Agency, "object", a.Object, "msg", a.Message)
	if m.OnAlarm != nil {
		m.observers.Lock()
		m.OnAlarm(a)
		m.observers.Unlock()
	}
}

// compareConfig checks that both DRCs hold the same repository.
func (m *Mirror) compareConfig(ctx context.Context) error {
	p, s := m.Primary, m.Secondary
	var cs []byte
	var errS error
	readS := make(chan struct{})
	go func() { cs, errS = drc.ReadObject(ctx, s.Store, "config"); close(readS) }()
	cp, err := drc.ReadObject(ctx, p.Store, "config")
	<-readS
	if err != nil {
		return fmt.Errorf("drc %q: the repository of agency %q: %w", p.DRC, p.Agency, err)
	}
	err = errS
	if errors.Is(err, drc.ErrNotExist) {
		return fmt.Errorf("drc %q has no repository for agency %q yet (run `cadang init`)", s.DRC, s.Agency)
	}
	if err != nil {
		return fmt.Errorf("drc %q: the repository of agency %q: %w", s.DRC, s.Agency, err)
	}
	if !bytes.Equal(cp, cs) {
		msg := fmt.Sprintf("drc %q holds a different repository for agency %q than drc %q (their config objects differ): nothing is replicated", s.DRC, s.Agency, p.DRC)
		a := Alarm{Kind: AlarmDifferentRepo, DRC: s.DRC, Agency: s.Agency, Object: "config", Message: msg}
		m.Log.Error("replication alarm", "kind", a.Kind, "drc", a.DRC, "agency", a.Agency, "msg", msg)
		if m.OnAlarm != nil {
			m.OnAlarm(a)
		}
		return errors.New(msg)
	}
	return nil
}

// bringBack copies to the primary the snapshots only the secondary has, with what they
// need; or, when the primary's repository is empty, everything.
func (m *Mirror) bringBack(ctx context.Context, getKey func() (*resticfmt.Key, error), lp, ls *listing, born []string, res *MirrorResult) {
	p, s := m.Primary, m.Secondary
	key, err := getKey()
	if err != nil {
		res.fail(err.Error())
		return
	}
	lock, err := lockRepo(ctx, p, key, false, m.Log)
	if err != nil {
		res.fail(fmt.Sprintf("cannot bring %d snapshot(s) back to drc %q now: %v", len(born), p.DRC, err))
		return
	}
	defer lock.release()
	m.Log.Info("bringing snapshots back to the primary", "drc", p.DRC, "from", s.DRC, "agency", p.Agency, "snapshots", len(born), "rebuild", res.Rebuild)
	only := born
	if res.Rebuild {
		only = nil
	}
	m.push(ctx, getKey, m.newJob(s, p, ls, lp, res), only)
}

// copyJob is one direction of a pass: the repository objects are copied from and the
// one they are copied to, with their listings, and the result that records what the
// pass did.
type copyJob struct {
	from, to *drc.Repo
	lf, lt   *listing // of from and of to; lt is kept up to date as objects arrive
	back     bool     // to is the primary: bringing back
	res      *MirrorResult
	// quiet: a copy that fails is left for the next pass, with no retry and no alarm
	// (the overlapped copy during a backup, overlap.go): the pass that follows
	// copies it again and judges it.
	quiet bool
}

func (m *Mirror) newJob(from, to *drc.Repo, lf, lt *listing, res *MirrorResult) *copyJob {
	return &copyJob{from: from, to: to, lf: lf, lt: lt, back: to == m.Primary, res: res}
}

// push copies objects of j.from that j.to lacks: all of them (only == nil), or what the
// snapshots in only need. Data first, then index files whose packs are all at j.to, then
// snapshot files whose every blob is at j.to.
func (m *Mirror) push(ctx context.Context, getKey func() (*resticfmt.Key, error), j *copyJob, only []string) {
	from, to, lf, lt, res := j.from, j.to, j.lf, j.lt, j.res
	var snaps []string
	if only == nil {
		for id := range lf.snapshots {
			if _, ok := lt.snapshots[id]; !ok {
				snaps = append(snaps, id)
			}
		}
		sort.Strings(snaps)
	} else {
		snaps = only
	}

	// Data packs.
	var packs []string
	if only == nil {
		for id, size := range lf.data {
			ts, ok := lt.data[id]
			if ok && ts != size {
				m.Log.Warn("object has the wrong size at the destination: copied again", "drc", to.DRC, "object", packObject(id), "size", ts, "want", size)
				res.Repaired++
			}
			if !ok || ts != size {
				packs = append(packs, id)
			}
		}
	} else {
		key, err := getKey()
		if err != nil {
			res.fail(err.Error())
			return
		}
		packs, err = m.packsFor(ctx, key, j, snaps)
		if err != nil {
			res.fail(fmt.Sprintf("drc %q: %v", from.DRC, err))
			return
		}
	}
	sort.Strings(packs)
	if !m.copyAll(ctx, j, "data", packs) {
		return
	}
	key, err := getKey()
	if err != nil {
		res.fail(err.Error())
		return
	}

	// Index files: those whose every pack is at the destination (or gone from the
	// source too, as after a prune that left a stale entry).
	var idxNew []string
	for id := range lf.index {
		if _, ok := lt.index[id]; !ok {
			idxNew = append(idxNew, id)
		}
	}
	sort.Strings(idxNew)
	fromSt := from.Watched("replication")
	if err := m.Contents.loadIndexes(ctx, key, idxNew, func(string) drc.Store { return fromSt }); err != nil {
		res.fail(fmt.Sprintf("drc %q: %v", from.DRC, err))
		return
	}
	wanted := map[string]bool{}
	for _, pk := range packs {
		wanted[pk] = true
	}
	var idxCopy []string
	for _, id := range idxNew {
		pi := m.Contents.parsed(id)
		if only != nil && !listsAny(pi, wanted) {
			continue // bringing back: only the index files of what is brought back
		}
		ready := true
		for _, pk := range pi.packs {
			_, atTo := lt.data[pk]
			_, atFrom := lf.data[pk]
			if !atTo && atFrom {
				ready = false
				break
			}
		}
		if ready {
			idxCopy = append(idxCopy, id)
		}
	}
	if !m.copyAll(ctx, j, "index", idxCopy) {
		return
	}

	// Snapshot files: only those whose every blob is at the destination now.
	if len(snaps) == 0 {
		return
	}
	m.progress(MirrorProgress{Phase: "checking snapshots", Objects: len(snaps)})
	ready, err := m.gate(ctx, key, j, snaps)
	if err != nil {
		res.fail(err.Error())
		return
	}
	m.copyAll(ctx, j, "snapshots", ready)
}

// packsFor returns the packs of from that the snapshots need and to does not have,
// with every other pack of from that an index file listing them names (so that no
// index file at to lists a pack that is not there).
func (m *Mirror) packsFor(ctx context.Context, key *resticfmt.Key, j *copyJob, snaps []string) ([]string, error) {
	from, lf, lt := j.from, j.lf, j.lt
	fromSt := from.Watched("replication")
	names := sortedKeys(lf.index)
	if err := m.Contents.loadIndexes(ctx, key, names, func(string) drc.Store { return fromSt }); err != nil {
		return nil, err
	}
	view := m.Contents.view(names)
	tr := &treeReader{key: key, view: view, store: fromSt, has: hasIn(lf.data), sizes: lf.data}
	need := map[resticfmt.ID]struct{}{}
	var roots []resticfmt.ID
	for _, id := range snaps {
		snap, err := readSnapshot(ctx, fromSt, key, id)
		if err != nil {
			return nil, err
		}
		roots = append(roots, *snap.Tree)
	}
	if err := tr.walk(ctx, roots, need); err != nil {
		return nil, err
	}
	copySet := map[string]bool{}
	for b := range need {
		locs := view.locations(b)
		atTo := false
		for _, l := range locs {
			if _, ok := lt.data[view.packNames[l.pack]]; ok {
				atTo = true
				break
			}
		}
		if atTo {
			continue
		}
		for _, l := range locs {
			if pk := view.packNames[l.pack]; hasIn(lf.data)(pk) {
				copySet[pk] = true
				break
			}
		}
	}
	// Complete with the other packs of the index files that list them.
	for name, packs := range view.filePacks {
		if _, ok := lt.index[name]; ok {
			continue
		}
		lists := false
		for _, pi := range packs {
			if copySet[view.packNames[pi]] {
				lists = true
				break
			}
		}
		if !lists {
			continue
		}
		for _, pi := range packs {
			pk := view.packNames[pi]
			_, atTo := lt.data[pk]
			if _, atFrom := lf.data[pk]; atFrom && !atTo {
				copySet[pk] = true
			}
		}
	}
	return sortedKeys(copySet), nil
}

// gate returns the snapshots of from whose every blob is in a pack at to that an index
// file at to lists; it notes why the others wait.
func (m *Mirror) gate(ctx context.Context, key *resticfmt.Key, j *copyJob, snaps []string) ([]string, error) {
	from, to, lf, lt, res := j.from, j.to, j.lf, j.lt, j.res
	fromSt, toSt := from.Watched("replication"), to.Watched("replication")
	fromIdx := sortedKeys(lf.index)
	if err := m.Contents.loadIndexes(ctx, key, fromIdx, func(string) drc.Store { return fromSt }); err != nil {
		return nil, fmt.Errorf("drc %q: %v", from.DRC, err)
	}
	toIdx := sortedKeys(lt.index)
	if err := m.Contents.loadIndexes(ctx, key, toIdx, func(name string) drc.Store {
		if _, ok := lf.index[name]; ok {
			return fromSt
		}
		return toSt
	}); err != nil {
		return nil, fmt.Errorf("drc %q: %v", to.DRC, err)
	}
	viewFrom := m.Contents.view(fromIdx)
	viewTo := m.Contents.view(toIdx)
	available := func(b resticfmt.ID) bool {
		for _, l := range viewTo.locations(b) {
			if _, ok := lt.data[viewTo.packNames[l.pack]]; ok {
				return true
			}
		}
		return false
	}
	tr := &treeReader{key: key, view: viewFrom, store: fromSt, has: hasIn(lf.data), sizes: lf.data}
	var ready []string
	for _, id := range snaps {
		snap, err := readSnapshot(ctx, fromSt, key, id)
		if errors.Is(err, drc.ErrNotExist) {
			continue // forgotten at the source meanwhile
		}
		var mm *HashMismatchError
		if errors.As(err, &mm) {
			m.alarm(res, Alarm{Kind: AlarmHashMismatch, DRC: from.DRC, Agency: from.Agency, Object: mm.Object,
				Message: fmt.Sprintf("drc %q: %v: not copied to drc %q", from.DRC, err, to.DRC)})
			continue
		}
		if err != nil {
			return ready, fmt.Errorf("drc %q: %v", from.DRC, err)
		}
		need := map[resticfmt.ID]struct{}{}
		if err := tr.walk(ctx, []resticfmt.ID{*snap.Tree}, need); err != nil {
			if ctx.Err() != nil || drc.IsUnreachable(err) {
				return ready, fmt.Errorf("drc %q: snapshot %s: %v", from.DRC, id[:8], err)
			}
			// A missing or damaged tree: the snapshot waits (the damage itself is an
			// alarm when its pack is copied, and `cadang verify` shows it).
			res.HeldBack[id] = fmt.Sprintf("drc %q cannot read it whole: %v", from.DRC, err)
			continue
		}
		missing := 0
		var first resticfmt.ID
		for b := range need {
			if !available(b) {
				if missing == 0 {
					first = b
				}
				missing++
			}
		}
		if missing > 0 {
			res.HeldBack[id] = fmt.Sprintf("%d of the %d blobs it needs are not at drc %q yet (one is %s)", missing, len(need), to.DRC, first.String()[:12])
			continue
		}
		ready = append(ready, id)
	}
	return ready, nil
}

// copyAll copies objects of a kind in parallel; it reports whether the pass may go on
// (false when a DRC stopped answering or the work was cancelled).
func (m *Mirror) copyAll(ctx context.Context, j *copyJob, kind string, ids []string) bool {
	from, to, lf, lt, res := j.from, j.to, j.lf, j.lt, j.res
	if len(ids) == 0 {
		return true
	}
	var total int64
	for _, id := range ids {
		total += lf.kind(kind)[id]
	}
	if kind == "data" {
		// The largest first, so that the last transfers do not run alone.
		ids = append([]string(nil), ids...)
		sort.SliceStable(ids, func(a, b int) bool { return lf.data[ids[a]] > lf.data[ids[b]] })
	}
	var mu sync.Mutex
	prog := MirrorProgress{Phase: kind, Objects: len(ids), Bytes: total}
	if j.back {
		prog.Phase = "bringing back " + kind
	}
	m.progress(prog)
	err := forEach(ctx, m.Workers, ids, func(ctx context.Context, id string) error {
		size := lf.kind(kind)[id]
		obj := objectName(kind, id)
		n, err := m.copyOne(ctx, j, obj, size)
		if err != nil {
			if drc.IsUnreachable(err) {
				return err // the pass stops; the next one resumes
			}
			if ctx.Err() == nil { // else: stopped because another copy failed
				res.fail(err.Error())
			}
			return nil
		}
		if n < 0 {
			return nil // gone from the source, or an alarm
		}
		mu.Lock()
		lt.kind(kind)[id] = n
		if j.back {
			res.BroughtBack.add(n)
			if kind == "snapshots" {
				res.BroughtBackSnapshots = append(res.BroughtBackSnapshots, id)
			}
		} else {
			res.Copied.add(n)
			if kind == "snapshots" {
				res.NewSnapshots = append(res.NewSnapshots, id)
			}
		}
		prog.ObjectsDone++
		prog.BytesDone += n
		p := prog
		mu.Unlock()
		if kind == "snapshots" && m.OnSnapshot != nil {
			m.observers.Lock()
			m.OnSnapshot(to.DRC, id)
			m.observers.Unlock()
		}
		m.progress(p)
		return nil
	})
	if err != nil {
		if ctx.Err() == nil { // else the whole pass was cancelled, and says so
			res.mu.Lock()
			res.Failures = append([]string{oneline.Of(fmt.Sprintf("replication between drc %q and drc %q stopped: %v", from.DRC, to.DRC, err))}, res.Failures...)
			res.mu.Unlock()
		}
		return false
	}
	return true
}

// copyOne copies one object, verified; it returns its size, or -1 if it was not copied
// for a reason already recorded (an alarm) or none (it is gone from the source).
func (m *Mirror) copyOne(ctx context.Context, j *copyJob, obj string, size int64) (int64, error) {
	from, to, res := j.from, j.to, j.res
	_, idHex := splitObject(obj)
	want, err := hex.DecodeString(idHex)
	if err != nil || len(want) != sha256.Size {
		return -1, fmt.Errorf("drc %q: %s: not a content-addressed name", from.DRC, obj)
	}
	mismatches := 0
	var lastErr error
	readFailed := false // the last attempt failed reading the source
	attempts := 4
	if j.quiet {
		attempts = 1
	}
	for attempt := 0; attempt < attempts; attempt++ {
		readFailed = false
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return -1, ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 500 * time.Millisecond):
			}
		}
		// An attempt that moves no byte for the stall timeout (a store that stops
		// answering without failing, at either end) is cancelled and retried.
		vr, gerr, err, stall := stream(ctx, from, to, obj, size, want, m.Limiter)
		if errors.Is(gerr, drc.ErrNotExist) {
			return -1, nil
		}
		if gerr != nil {
			lastErr = fmt.Errorf("drc %q: reading %s: %w", from.DRC, obj, gerr)
			if stall != nil {
				lastErr = stall
			} else if drc.IsUnreachable(gerr) {
				return -1, lastErr
			}
			m.Log.Debug("copy failed, retrying", "object", obj, "attempt", attempt+1, "err", lastErr)
			continue
		}
		if err == nil && vr.err == nil && vr.n == size {
			return size, nil
		}
		var sizeErr *sizeMismatch
		switch {
		case stall != nil:
			// Which end stopped is not known: no damage is recorded, the pass fails
			// if every attempt stalls, and the next pass tries again.
			lastErr = stall
		case vr.err == errHashMismatch && j.quiet:
			return -1, fmt.Errorf("drc %q: %s: content does not match its name: left for the next pass", from.DRC, obj)
		case vr.err == errHashMismatch:
			mismatches++
			if mismatches >= 2 {
				m.alarm(res, Alarm{Kind: AlarmHashMismatch, DRC: from.DRC, Agency: from.Agency, Object: obj,
					Message: fmt.Sprintf("drc %q: %s: content does not match its name (SHA-256 %s…), read twice: not copied to drc %q",
						from.DRC, obj, hex.EncodeToString(vr.got[:6]), to.DRC)})
				return -1, nil
			}
			lastErr = fmt.Errorf("drc %q: %s: content does not match its name", from.DRC, obj)
		case errors.As(vr.err, &sizeErr):
			// The listing may be stale: ask for the size again.
			info, serr := from.Store.Stat(ctx, obj)
			if errors.Is(serr, drc.ErrNotExist) {
				return -1, nil
			}
			if serr == nil {
				size = info.Size
			}
			lastErr = fmt.Errorf("drc %q: %s: %v", from.DRC, obj, vr.err)
			readFailed = true
		case vr.err != nil && (drc.IsUnreachable(vr.err) || ctx.Err() != nil):
			return -1, fmt.Errorf("drc %q: reading %s: %w", from.DRC, obj, vr.err)
		case vr.err != nil:
			lastErr = fmt.Errorf("drc %q: reading %s: %w", from.DRC, obj, vr.err)
			readFailed = true
		default:
			lastErr = fmt.Errorf("drc %q: writing %s: %w", to.DRC, obj, err)
			if drc.IsUnreachable(err) || ctx.Err() != nil {
				return -1, lastErr
			}
		}
		m.Log.Debug("copy failed, retrying", "object", obj, "attempt", attempt+1, "err", lastErr)
	}
	if readFailed && ctx.Err() == nil && !j.quiet {
		// The DRC answers but cannot give this object whole, every time (bitrot
		// in an S3 server's part file reads as a short or broken stream): it is
		// damaged as surely as one that hashes wrong.
		m.alarm(res, Alarm{Kind: AlarmUnreadable, DRC: from.DRC, Agency: from.Agency, Object: obj,
			Message: fmt.Sprintf("%v (4 attempts): not copied to drc %q", lastErr, to.DRC)})
		return -1, nil
	}
	return -1, lastErr
}

var errHashMismatch = errors.New("content does not match its name")

// stream copies obj (size bytes, named by its SHA-256 want) from `from` to `to`
// through a verifyingReader, slowed by lim (nil: no limit), under one stall watch for
// the read and the write. getErr is from's Get, putErr to's Put; stall, when no byte
// moved for from's stall timeout, names both ends and the object.
func stream(ctx context.Context, from, to *drc.Repo, obj string, size int64, want []byte, lim *Limiter) (vr *verifyingReader, getErr, putErr, stall error) {
	w := drc.NewWatch(ctx, from.StallTimeout())
	defer w.Stop()
	rc, getErr := from.Store.Get(w.Context(), obj)
	if getErr == nil {
		vr = &verifyingReader{r: w.Reader(lim.Reader(ctx, rc)), h: sha256.New(), size: size}
		copy(vr.want[:], want)
		putErr = to.Store.Put(w.Context(), obj, vr, size)
		rc.Close()
	}
	if w.Fired() && ctx.Err() == nil {
		stall = fmt.Errorf("drc %q to drc %q: %s: no byte moved for %s (restic.stall_timeout): cancelled", from.DRC, to.DRC, obj, w.Timeout())
	}
	return vr, getErr, putErr, stall
}

type sizeMismatch struct{ got, want int64 }

func (e *sizeMismatch) Error() string {
	if e.got < e.want {
		return fmt.Sprintf("short read: %d of %d bytes", e.got, e.want)
	}
	return fmt.Sprintf("the object is longer than its listed %d bytes", e.want)
}

// verifyingReader hashes what it passes on and holds back the object's last bytes
// until the hash is known to match the name: a store's Put then fails, and no damaged
// object is ever committed at the destination.
type verifyingReader struct {
	r    io.Reader
	h    hash.Hash
	want [32]byte
	got  [32]byte
	size int64
	n    int64
	err  error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.n == v.size && v.size > 0 {
		return 0, io.EOF
	}
	if rem := v.size - v.n; int64(len(p)) > rem+1 {
		p = p[:rem+1] // one byte more than expected shows an over-long object
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	switch {
	case v.n > v.size:
		v.err = &sizeMismatch{got: v.n, want: v.size}
		return 0, v.err
	case v.n == v.size:
		if err == nil {
			var one [1]byte
			m, rerr := io.ReadFull(v.r, one[:])
			if m > 0 {
				v.err = &sizeMismatch{got: v.n + 1, want: v.size}
				return 0, v.err
			}
			if rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
				v.err = rerr
				return 0, v.err
			}
		} else if err != io.EOF {
			v.err = err
			return 0, v.err
		}
		v.h.Sum(v.got[:0])
		if v.got != v.want {
			v.err = errHashMismatch
			return 0, v.err
		}
		return n, io.EOF
	case err == io.EOF:
		v.err = &sizeMismatch{got: v.n, want: v.size}
		return 0, v.err
	case err != nil:
		v.err = err
		return 0, err
	}
	return n, nil
}

// deletions removes from the secondary what the primary no longer has, after the
// grace period, and never what a snapshot at the secondary needs.
func (m *Mirror) deletions(ctx context.Context, getKey func() (*resticfmt.Key, error), lp, ls *listing, born []string, res *MirrorResult) {
	s := m.Secondary
	now := m.Now()
	pending, err := m.Ledger.PendingDeletions()
	if err != nil {
		res.fail(err.Error())
		return
	}
	isBorn := map[string]bool{}
	for _, id := range born {
		isBorn[id] = true
	}
	next := map[string]time.Time{}
	for _, kind := range []string{"snapshots", "index", "data"} {
		for id := range ls.kind(kind) {
			if _, atP := lp.kind(kind)[id]; atP || (kind == "snapshots" && isBorn[id]) {
				continue
			}
			obj := objectName(kind, id)
			first, ok := pending[obj]
			if !ok {
				first = now
			}
			next[obj] = first
		}
	}
	due := map[string]bool{}
	for obj, first := range next {
		if now.Sub(first) >= m.DeleteAfter {
			due[obj] = true
		}
	}
	defer func() {
		if err := m.Ledger.SetPendingDeletions(next); err != nil {
			res.fail(err.Error())
		}
		res.PendingDeletions = len(next)
		for _, first := range next {
			if at := first.Add(m.DeleteAfter); res.NextDeletion.IsZero() || at.Before(res.NextDeletion) {
				res.NextDeletion = at
			}
		}
	}()
	if len(due) == 0 {
		return
	}

	key, err := getKey()
	if err != nil {
		res.fail(err.Error())
		return
	}
	lock, err := lockRepo(ctx, s, key, true, m.Log)
	if err != nil {
		res.note(fmt.Sprintf("%d deletion(s) at drc %q wait: %v", len(due), s.DRC, err))
		return
	}
	defer lock.release()
	// Under the lock, look again: a backup may have added snapshots meanwhile.
	ls2, err := listRepo(ctx, s.Store)
	if err != nil {
		res.fail(fmt.Sprintf("drc %q: listing agency %q: %v", s.DRC, s.Agency, err))
		return
	}
	for obj := range due {
		if !ls2.has(obj) {
			delete(due, obj)
			delete(next, obj)
		}
	}
	m.progress(MirrorProgress{Phase: "checking deletions", Objects: len(due)})
	if err := m.keepNeeded(ctx, key, ls2, due, res); err != nil {
		m.alarm(res, Alarm{Kind: AlarmMissingBlob, DRC: s.DRC, Agency: s.Agency,
			Message: fmt.Sprintf("drc %q: cannot tell what the snapshots there need (%v): nothing is deleted", s.DRC, err)})
		return
	}
	// Snapshot files first, then index files, then packs: a repository never has a
	// snapshot whose data is gone.
	for _, kind := range []string{"snapshots", "index", "data"} {
		var objs []string
		for obj := range due {
			if k, _ := splitObject(obj); k == kind {
				objs = append(objs, obj)
			}
		}
		sort.Strings(objs)
		if len(objs) == 0 {
			continue
		}
		m.progress(MirrorProgress{Phase: "deleting " + kind, Objects: len(objs)})
		var mu sync.Mutex
		ferr := forEach(ctx, m.Workers, objs, func(ctx context.Context, obj string) error {
			if err := s.Store.Delete(ctx, obj); err != nil {
				if drc.IsUnreachable(err) {
					return err
				}
				if errors.Is(err, drc.ErrRetained) {
					mu.Lock()
					res.Locked++ // stays pending: a later pass retries it
					mu.Unlock()
					return nil
				}
				if errors.Is(err, drc.ErrDeleteDenied) {
					mu.Lock()
					res.Denied++ // left for a lifecycle rule (or another key); stays pending
					mu.Unlock()
					return nil
				}
				res.fail(fmt.Sprintf("drc %q: deleting %s: %v", s.DRC, obj, err))
				return nil
			}
			_, id := splitObject(obj)
			mu.Lock()
			size := ls.kind(kind)[id]
			delete(ls.kind(kind), id)
			delete(next, obj)
			res.Deleted.add(size)
			if kind == "snapshots" {
				res.DeletedSnapshots = append(res.DeletedSnapshots, id)
			}
			mu.Unlock()
			if kind == "snapshots" && m.OnDeleted != nil {
				m.observers.Lock()
				m.OnDeleted(s.DRC, id)
				m.observers.Unlock()
			}
			return nil
		})
		if ferr != nil {
			res.fail(fmt.Sprintf("drc %q: deleting: %v", s.DRC, ferr))
			return // packs stay when their index files could not all be removed
		}
		if res.Locked > 0 || res.Denied > 0 {
			// What a locked snapshot file (or index file) still needs stays with it:
			// the rest waits for a later pass, when the lock has expired.
			break
		}
	}
	if res.Locked > 0 {
		res.note(fmt.Sprintf("%d deletion(s) at drc %q wait for the objects' retention to expire", res.Locked, s.DRC))
	}
	if res.Denied > 0 {
		res.note(fmt.Sprintf("%d expired object(s) at drc %q are left: its key may not delete (a bucket lifecycle rule, or a cleanup with another key, removes them)", res.Denied, s.DRC))
	}
	if res.Deleted.Objects > 0 {
		m.Log.Info("deletions reached the secondary", "drc", s.DRC, "agency", s.Agency, "objects", res.Deleted.Objects, "bytes", res.Deleted.Bytes)
	}
}

// keepNeeded removes from due every object a remaining snapshot at the secondary
// needs: the packs holding its blobs (when no pack that stays holds them) and the
// index files that list such packs (when no index file that stays does). Packs that an
// index file that stays lists are kept too, so the repository stays check-clean.
func (m *Mirror) keepNeeded(ctx context.Context, key *resticfmt.Key, ls *listing, due map[string]bool, res *MirrorResult) error {
	st := m.Secondary.Watched("replication")
	idx := sortedKeys(ls.index)
	if err := m.Contents.loadIndexes(ctx, key, idx, func(string) drc.Store { return st }); err != nil {
		return err
	}
	view := m.Contents.view(idx)
	tr := &treeReader{key: key, view: view, store: st, has: hasIn(ls.data), sizes: ls.data}
	var roots []resticfmt.ID
	for id := range ls.snapshots {
		if due[objectName("snapshots", id)] {
			continue
		}
		snap, err := readSnapshot(ctx, st, key, id)
		if err != nil {
			return err
		}
		roots = append(roots, *snap.Tree)
	}
	need := map[resticfmt.ID]struct{}{}
	if err := tr.walk(ctx, roots, need); err != nil {
		return err
	}
	stays := func(pack string) bool {
		_, there := ls.data[pack]
		return there && !due[packObject(pack)]
	}
	kept := 0
	for b := range need {
		locs := view.locations(b)
		ok := false
		for _, l := range locs {
			if stays(view.packNames[l.pack]) {
				ok = true
				break
			}
		}
		if ok {
			continue
		}
		for _, l := range locs {
			pk := view.packNames[l.pack]
			if _, there := ls.data[pk]; there {
				delete(due, packObject(pk))
				kept++
				ok = true
				break
			}
		}
		if !ok {
			return &MissingBlobError{Blob: b.String()}
		}
	}
	// Every pack that stays must be listed by an index file that stays.
	covered := map[string]bool{}
	for name, packs := range view.filePacks {
		if !due[objectName("index", name)] {
			for _, pi := range packs {
				covered[view.packNames[pi]] = true
			}
		}
	}
	for _, name := range idx {
		if !due[objectName("index", name)] {
			continue
		}
		for _, pi := range view.filePacks[name] {
			pk := view.packNames[pi]
			if stays(pk) && !covered[pk] {
				delete(due, objectName("index", name))
				kept++
				for _, pj := range view.filePacks[name] {
					covered[view.packNames[pj]] = true
				}
				break
			}
		}
	}
	for pk := range covered {
		if due[packObject(pk)] {
			delete(due, packObject(pk))
			kept++
		}
	}
	if kept > 0 {
		res.note(fmt.Sprintf("%d object(s) gone from the primary stay at drc %q: snapshots there still need them", kept, m.Secondary.DRC))
	}
	return nil
}

// parsed returns a loaded index file.
func (c *Contents) parsed(name string) *parsedIndex {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.indexes[name]; p != nil {
		return p
	}
	return &parsedIndex{}
}

func listsAny(p *parsedIndex, packs map[string]bool) bool {
	for _, pk := range p.packs {
		if packs[pk] {
			return true
		}
	}
	return false
}

func hasIn(m map[string]int64) func(string) bool {
	return func(k string) bool { _, ok := m[k]; return ok }
}

func unionKeys(a, b map[string]int64) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// ScanResult says whether a pass has work, without doing any.
type ScanResult struct {
	ToCopy           Transfer // primary objects missing (or wrong) at the secondary
	ToBringBack      int      // snapshots only the secondary has, never seen at the primary
	NewDeletions     int      // objects the primary no longer has, not yet waiting for their grace
	DueDeletions     int      // objects whose grace is over
	PendingDeletions int
}

// Work reports whether a pass would do something.
func (r *ScanResult) Work() bool {
	return r.ToCopy.Objects > 0 || r.ToBringBack > 0 || r.NewDeletions > 0 || r.DueDeletions > 0
}

// Scan lists both DRCs and says what a pass would do; it changes nothing. It is cheap
// enough to run often: two listings, no object is read.
func (m *Mirror) Scan(ctx context.Context) (*ScanResult, error) {
	if m.Now == nil {
		m.Now = time.Now
	}
	if m.DeleteAfter <= 0 {
		m.DeleteAfter = drc.DefaultDeleteAfter
	}
	p, s := m.Primary, m.Secondary
	lp, err := listRepo(ctx, p.Store)
	if err != nil {
		return nil, fmt.Errorf("drc %q: listing agency %q: %w", p.DRC, p.Agency, err)
	}
	ls, err := listRepo(ctx, s.Store)
	if err != nil {
		return nil, fmt.Errorf("drc %q: listing agency %q: %w", s.DRC, s.Agency, err)
	}
	seenP, err := m.Ledger.SeenAt(p.DRC)
	if err != nil {
		return nil, err
	}
	pending, err := m.Ledger.PendingDeletions()
	if err != nil {
		return nil, err
	}
	res := &ScanResult{}
	rebuild := len(lp.snapshots) == 0 && len(lp.index) == 0 && len(lp.data) == 0 && len(ls.snapshots) > 0
	now := m.Now()
	for _, kind := range []string{"data", "index", "snapshots"} {
		for id, size := range lp.kind(kind) {
			if ts, ok := ls.kind(kind)[id]; !ok || ts != size {
				res.ToCopy.add(size)
			}
		}
		for id := range ls.kind(kind) {
			if _, ok := lp.kind(kind)[id]; ok {
				continue
			}
			if kind == "snapshots" && (rebuild || !seenP[id]) {
				res.ToBringBack++
				continue
			}
			if rebuild {
				continue
			}
			first, ok := pending[objectName(kind, id)]
			switch {
			case !ok:
				res.NewDeletions++
			case now.Sub(first) >= m.DeleteAfter:
				res.DueDeletions++
			default:
				res.PendingDeletions++
			}
		}
	}
	return res, nil
}

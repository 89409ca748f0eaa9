package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/resticfmt"
)

// Overlap copies, while a backup writes at the primary, the data packs restic has
// finished writing there, so that when the backup ends only its index and snapshot
// files (and its last packs) are left for the mirror's pass (Mirror.Run). Each Round
// lists the primary's data/ and copies the packs the secondary lacks; nothing else:
// no index file, no snapshot file, no deletion, no ledger entry. So the secondary
// holds more packs earlier, and nothing else changes: a snapshot is at the secondary
// only once the pass has copied its index and snapshot files, as without overlap.
//
// A pack is never copied partial: restic's local backend writes a pack to a
// temporary file ("<id>-tmp-…", not a restic name, so not listed) and renames it
// when it is whole; an S3 object (a PUT, or a multipart upload) is listed only once
// it is complete. Whatever the backend, every pack is verified while it streams (its
// SHA-256 must be its name, the last bytes are held back until it is), so an object
// that is not whole never lands at the secondary. A copy that fails in a round is not
// retried nor judged (no alarm): the pass after the backup copies it again and raises
// the alarm if it is damaged.
//
// An Overlap is used by one goroutine at a time.
type Overlap struct {
	m      *Mirror
	atDest map[string]int64 // the secondary's packs: listed at Start, then kept up to date
	before map[string]int64 // the primary's packs at Start: the passes' backlog, not the backup's
	copied Transfer
}

// NewOverlap returns the overlapped copy of m (its Primary, Secondary, Workers,
// Limiter and Log; its ledger is not used).
func (m *Mirror) NewOverlap() *Overlap {
	if m.Workers <= 0 {
		m.Workers = drc.DefaultWorkers
	}
	if m.Log == nil {
		m.Log = slog.New(slog.DiscardHandler)
	}
	return &Overlap{m: m}
}

// Copied returns what the rounds so far copied.
func (o *Overlap) Copied() Transfer { return o.copied }

// Start lists both DRCs' packs when the backup starts: the packs at the primary then
// are not the backup's (a backlog is the passes' work, with their progress and
// their run), and rounds copy only the packs that appear after. Without Start, a
// round copies every pack the secondary lacks.
func (o *Overlap) Start(ctx context.Context) error {
	p, s := o.m.Primary, o.m.Secondary
	before, err := listData(ctx, p.Store)
	if err != nil {
		return fmt.Errorf("drc %q: listing agency %q: %w", p.DRC, p.Agency, err)
	}
	at, err := listData(ctx, s.Store)
	if err != nil {
		return fmt.Errorf("drc %q: listing agency %q: %w", s.DRC, s.Agency, err)
	}
	o.before, o.atDest = before, at
	return nil
}

// Round copies the packs at the primary that the secondary lacks (those written since
// Start); it returns what it copied. An error is one line naming the DRC; the copies
// that failed are left for the next round or pass.
func (o *Overlap) Round(ctx context.Context) (Transfer, error) {
	m := o.m
	p, s := m.Primary, m.Secondary
	var done Transfer
	if o.atDest == nil {
		at, err := listData(ctx, s.Store)
		if err != nil {
			return done, fmt.Errorf("drc %q: listing agency %q: %w", s.DRC, s.Agency, err)
		}
		o.atDest = at
	}
	atSrc, err := listData(ctx, p.Store)
	if err != nil {
		return done, fmt.Errorf("drc %q: listing agency %q: %w", p.DRC, p.Agency, err)
	}
	var packs []string
	for id := range atSrc {
		if _, old := o.before[id]; old {
			continue
		}
		if _, ok := o.atDest[id]; !ok {
			packs = append(packs, id) // one of another size at the secondary is the pass's to repair
		}
	}
	if len(packs) == 0 {
		return done, nil
	}
	sort.Strings(packs)
	res := &MirrorResult{}
	j := &copyJob{from: p, to: s, lf: &listing{data: atSrc}, lt: &listing{data: o.atDest}, res: res, quiet: true}
	var mu sync.Mutex
	var failed []string
	ferr := forEach(ctx, m.Workers, packs, func(ctx context.Context, id string) error {
		n, err := m.copyOne(ctx, j, packObject(id), atSrc[id])
		if err != nil {
			if drc.IsUnreachable(err) {
				return err
			}
			mu.Lock()
			failed = append(failed, err.Error())
			mu.Unlock()
			return nil
		}
		if n < 0 {
			return nil
		}
		mu.Lock()
		o.atDest[id] = n
		done.add(n)
		mu.Unlock()
		return nil
	})
	o.copied.Objects += done.Objects
	o.copied.Bytes += done.Bytes
	if ferr != nil && !errors.Is(ferr, context.Canceled) {
		return done, ferr
	}
	if len(failed) > 0 {
		m.Log.Debug("overlapped copy: packs left for the next pass", "drc", s.DRC, "agency", s.Agency, "failed", len(failed), "first", failed[0])
	}
	return done, ctx.Err()
}

// listData lists the data packs of a repository: id -> size. Temporary files (not
// named by a restic id) are never listed.
func listData(ctx context.Context, st drc.Store) (map[string]int64, error) {
	out := map[string]int64{}
	err := st.List(ctx, "data/", func(o drc.ObjectInfo) error {
		base := o.Name[strings.LastIndexByte(o.Name, '/')+1:]
		if _, err := resticfmt.ParseID(base); err != nil {
			return nil
		}
		out[base] = o.Size
		return nil
	})
	return out, err
}

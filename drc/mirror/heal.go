package mirror

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sort"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/resticfmt"
)

// ErrBadSource means the copy an object was to be repaired from does not hash to its
// name either: it is refused, and nothing is written.
var ErrBadSource = errors.New("the copy there does not match its name either")

// CopyVerified replaces obj at to with the copy at from, proven good: the bytes stream
// through a SHA-256 that must equal the object's name before the last of them reach
// to's Put (a store commits an object whole or not at all: a directory store writes a
// temporary file and renames it, S3 replaces the object in one request), and the
// object is read back from to and hashed again afterwards. A copy at from that does
// not match its name is refused with ErrBadSource; a copy at to that reads back wrong
// is an error naming to. It returns the object's size.
func CopyVerified(ctx context.Context, from, to *drc.Repo, obj string) (int64, error) {
	id := path.Base(obj)
	want, err := hex.DecodeString(id)
	if err != nil || len(want) != sha256.Size {
		return 0, fmt.Errorf("%s: not a content-addressed name", obj)
	}
	info, err := from.Store.Stat(ctx, obj)
	if err != nil {
		return 0, fmt.Errorf("drc %q: %s: %w", from.DRC, obj, err)
	}
	// A copy that moves no byte for the stall timeout is cancelled (which end stopped
	// is not known: nothing is recorded against either).
	vr, gerr, err, stall := stream(ctx, from, to, obj, info.Size, want, nil)
	switch {
	case stall != nil:
		return 0, stall
	case gerr != nil:
		return 0, fmt.Errorf("drc %q: reading %s: %w", from.DRC, obj, gerr)
	case vr.err == errHashMismatch:
		return 0, fmt.Errorf("drc %q: %s: %w (SHA-256 %s…): nothing written at drc %q", from.DRC, obj, ErrBadSource, hex.EncodeToString(vr.got[:6]), to.DRC)
	case vr.err != nil:
		return 0, fmt.Errorf("drc %q: reading %s: %w", from.DRC, obj, vr.err)
	case err != nil:
		return 0, fmt.Errorf("drc %q: writing %s: %w", to.DRC, obj, err)
	case vr.n != info.Size:
		return 0, fmt.Errorf("drc %q: %s: read %d of %d bytes", from.DRC, obj, vr.n, info.Size)
	}
	if err := VerifyObjects(ctx, to.Watched("repair"), []string{obj}, 1, nil); err != nil {
		return 0, fmt.Errorf("drc %q: %s written but it reads back wrong: %w", to.DRC, obj, err)
	}
	return info.Size, nil
}

// Loss is what a snapshot loses when some pack files are gone for good: the files (and
// whole directories, with a trailing slash, when a tree is lost) whose data was only in
// those packs.
type Loss struct {
	Snapshot string   `json:"snapshot"`
	Paths    []string `json:"paths"`
	More     int      `json:"more,omitempty"` // paths not listed (the list is bounded)
}

const maxLossPaths = 50

// Losses returns, for every snapshot of r that needs a blob found only in the given
// pack files (data/xx/<id>), what it loses: restic's `repair snapshots` would cut
// exactly these paths out. A blob that is also in a pack outside the set is not lost.
// Trees in the set are not read (they may be the damage); every other tree is. An
// error returns no answer: a loss must never be guessed.
func (c *Contents) Losses(ctx context.Context, r *drc.Repo, damaged []string) ([]Loss, error) {
	bad := map[string]bool{}
	for _, o := range damaged {
		bad[path.Base(o)] = true
	}
	l, err := listRepo(ctx, r.Store)
	if err != nil {
		return nil, fmt.Errorf("drc %q: %w", r.DRC, err)
	}
	key, err := c.MasterKey(ctx, r)
	if err != nil {
		return nil, err
	}
	st := r.Watched("repair")
	idx := sortedKeys(l.index)
	if err := c.loadIndexes(ctx, key, idx, func(string) drc.Store { return st }); err != nil {
		return nil, fmt.Errorf("drc %q: %w", r.DRC, err)
	}
	view := c.view(idx)
	usable := func(pack string) bool { _, ok := l.data[pack]; return ok && !bad[pack] }
	lost := func(b resticfmt.ID) bool {
		for _, loc := range view.locations(b) {
			if usable(view.packNames[loc.pack]) {
				return false
			}
		}
		return true
	}
	tr := &treeReader{key: key, view: view, store: st, has: usable, sizes: l.data}
	memo := map[resticfmt.ID][]string{} // tree -> lost paths below it, relative
	var walk func(id resticfmt.ID) ([]string, error)
	walk = func(id resticfmt.ID) ([]string, error) {
		if p, ok := memo[id]; ok {
			return p, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		plain, err := tr.blob(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("tree %s: %w", id.String()[:12], err)
		}
		tree, err := resticfmt.ParseTree(plain)
		if err != nil {
			return nil, fmt.Errorf("tree %s: %w", id.String()[:12], err)
		}
		var out []string
		for _, n := range tree.Nodes {
			for _, b := range n.Content {
				if lost(b) {
					out = append(out, n.Name)
					break
				}
			}
			if n.Subtree == nil {
				continue
			}
			if lost(*n.Subtree) {
				out = append(out, n.Name+"/")
				continue
			}
			below, err := walk(*n.Subtree)
			if err != nil {
				return nil, err
			}
			for _, p := range below {
				out = append(out, n.Name+"/"+p)
			}
		}
		memo[id] = out
		return out, nil
	}
	var losses []Loss
	for _, id := range sortedKeys(l.snapshots) {
		s, err := readSnapshot(ctx, st, key, id)
		if err != nil {
			return nil, fmt.Errorf("drc %q: %w", r.DRC, err)
		}
		var paths []string
		if lost(*s.Tree) {
			paths = []string{"/"}
		} else {
			below, err := walk(*s.Tree)
			if err != nil {
				return nil, fmt.Errorf("drc %q: snapshot %.8s: %w", r.DRC, id, err)
			}
			for _, p := range below {
				paths = append(paths, "/"+p)
			}
		}
		if len(paths) == 0 {
			continue
		}
		sort.Strings(paths)
		loss := Loss{Snapshot: id, Paths: paths}
		if len(paths) > maxLossPaths {
			loss.Paths, loss.More = paths[:maxLossPaths], len(paths)-maxLossPaths
		}
		losses = append(losses, loss)
	}
	return losses, nil
}

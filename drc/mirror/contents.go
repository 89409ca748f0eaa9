package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/resticfmt"
)

// Contents reads what is inside one agency's repository, which is the same repository
// at every DRC: its master key, its index files and its trees. Replication needs this
// to know which pack files a snapshot needs (restic has no command that says), so that
// a snapshot file is copied only when everything it needs is already at the
// destination, and a pack file is deleted at a secondary only when no snapshot there
// needs it.
//
// Index files are content-addressed and never change, so parsed ones are kept between
// replication passes. A Contents is safe for concurrent use.
type Contents struct {
	Agency string

	mu      sync.Mutex
	key     *resticfmt.Key
	indexes map[string]*parsedIndex // by index file name
}

// NewContents returns an empty Contents for agency's repository.
func NewContents(agency string) *Contents {
	return &Contents{Agency: agency, indexes: map[string]*parsedIndex{}}
}

// MasterKey returns the repository's master key, opened with the password of the first
// of repos whose password opens one of its key files there. The key stays in memory.
func (c *Contents) MasterKey(ctx context.Context, repos ...*drc.Repo) (*resticfmt.Key, error) {
	c.mu.Lock()
	k := c.key
	c.mu.Unlock()
	if k != nil {
		return k, nil
	}
	var errs []string
	for _, r := range repos {
		k, err := r.OpenMasterKey(ctx)
		if err == nil {
			c.mu.Lock()
			c.key = k
			c.mu.Unlock()
			return k, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("cannot open the repository of agency %q: %s", c.Agency, strings.Join(errs, "; "))
}

// blobLoc is where a blob lives: a pack and the encrypted bytes' place in it.
type blobLoc struct {
	pack                 int32 // into indexView.packNames
	offset, length, ulen uint32
	tree                 bool
}

type parsedIndex struct {
	packs []string // pack ids (hex)
	blobs []indexedBlob
}

type indexedBlob struct {
	id                   resticfmt.ID
	pack                 int32 // into parsedIndex.packs
	offset, length, ulen uint32
	tree                 bool
}

// readRetry reads a whole object, trying again (three times in all) after a failure
// that may pass: a connection reset, a short read.
func readRetry(ctx context.Context, st drc.Store, name string) ([]byte, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		var data []byte
		data, err = drc.ReadObject(ctx, st, name)
		if err == nil || errors.Is(err, drc.ErrNotExist) || ctx.Err() != nil {
			return data, err
		}
	}
	return nil, err
}

// readVerified reads an object and checks that its name is the SHA-256 of its content
// (a mismatch is read again before it is believed).
func readVerified(ctx context.Context, st drc.Store, name string) ([]byte, error) {
	data, err := readRetry(ctx, st, name)
	if err != nil {
		return nil, err
	}
	base := name[strings.LastIndexByte(name, '/')+1:]
	if resticfmt.Hash(data).String() != base {
		if data, err = readRetry(ctx, st, name); err != nil {
			return nil, err
		}
	}
	if got := resticfmt.Hash(data).String(); got != base {
		return nil, &HashMismatchError{Object: name, Got: got}
	}
	return data, nil
}

// HashMismatchError is an object whose content does not hash to its name: it is
// damaged (or was tampered with) where it was read.
type HashMismatchError struct {
	Object string
	Got    string // the SHA-256 of what was read
}

func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("%s: content does not match its name (SHA-256 %s…)", e.Object, e.Got[:12])
}

// loadIndexes parses the index files not parsed yet, reading each from the store that
// from returns for it.
func (c *Contents) loadIndexes(ctx context.Context, key *resticfmt.Key, names []string, from func(name string) drc.Store) error {
	c.mu.Lock()
	var todo []string
	for _, n := range names {
		if _, ok := c.indexes[n]; !ok {
			todo = append(todo, n)
		}
	}
	c.mu.Unlock()
	return forEach(ctx, 8, todo, func(ctx context.Context, name string) error {
		data, err := readVerified(ctx, from(name), "index/"+name)
		if err != nil {
			return err
		}
		plain, err := key.DecryptFile(data)
		if err != nil {
			return fmt.Errorf("index/%s: %w", name, err)
		}
		idx, err := resticfmt.ParseIndex(plain)
		if err != nil {
			return fmt.Errorf("index/%s: %w", name, err)
		}
		p := &parsedIndex{}
		for _, pk := range idx.Packs {
			pi := int32(len(p.packs))
			p.packs = append(p.packs, pk.ID.String())
			for _, b := range pk.Blobs {
				if b.Offset > math.MaxUint32 || b.Length > math.MaxUint32 || b.UncompressedLength > math.MaxUint32 {
					return fmt.Errorf("index/%s: blob %s is beyond 4 GiB in its pack", name, b.ID)
				}
				p.blobs = append(p.blobs, indexedBlob{id: b.ID, pack: pi, offset: uint32(b.Offset), length: uint32(b.Length),
					ulen: uint32(b.UncompressedLength), tree: b.Type == "tree"})
			}
		}
		c.mu.Lock()
		c.indexes[name] = p
		c.mu.Unlock()
		return nil
	})
}

// forget drops parsed index files that are not in keep, so that memory follows the
// repository as it is pruned.
func (c *Contents) forget(keep map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := range c.indexes {
		if !keep[n] {
			delete(c.indexes, n)
		}
	}
}

// indexView is the union of some index files: where each blob is.
type indexView struct {
	packIdx   map[string]int32
	packNames []string
	blobs     map[resticfmt.ID]blobLoc
	more      map[resticfmt.ID][]blobLoc // blobs stored in more than one pack
	filePacks map[string][]int32         // index file -> the packs it lists
}

// view builds the union of the named index files, which must be loaded.
func (c *Contents) view(names []string) *indexView {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := &indexView{packIdx: map[string]int32{}, blobs: map[resticfmt.ID]blobLoc{}, more: map[resticfmt.ID][]blobLoc{}, filePacks: map[string][]int32{}}
	for _, name := range names {
		p := c.indexes[name]
		if p == nil {
			continue
		}
		local := make([]int32, len(p.packs))
		for i, pk := range p.packs {
			gi, ok := v.packIdx[pk]
			if !ok {
				gi = int32(len(v.packNames))
				v.packNames = append(v.packNames, pk)
				v.packIdx[pk] = gi
			}
			local[i] = gi
		}
		v.filePacks[name] = local
		for _, b := range p.blobs {
			loc := blobLoc{pack: local[b.pack], offset: b.offset, length: b.length, ulen: b.ulen, tree: b.tree}
			if first, ok := v.blobs[b.id]; !ok {
				v.blobs[b.id] = loc
			} else if first.pack != loc.pack {
				v.more[b.id] = append(v.more[b.id], loc)
			}
		}
	}
	return v
}

// locations returns every place of a blob.
func (v *indexView) locations(id resticfmt.ID) []blobLoc {
	first, ok := v.blobs[id]
	if !ok {
		return nil
	}
	return append([]blobLoc{first}, v.more[id]...)
}

// packObject is the object name of a pack file.
func packObject(id string) string { return "data/" + id[:2] + "/" + id }

// treeReader reads tree blobs from one store, fetching whole (small) pack files once
// and keeping them while it walks, since tree blobs are stored together.
type treeReader struct {
	key   *resticfmt.Key
	view  *indexView
	store drc.Store
	has   func(pack string) bool // the pack file is in store
	sizes map[string]int64       // pack sizes as listed, to decide between whole and ranged reads

	packs     map[int32][]byte
	packOrder []int32
	cached    int64
}

const (
	wholePackMax   = 32 << 20  // read a tree's whole pack up to this size
	treeCacheBytes = 256 << 20 // keep at most this much of pack files while walking
)

func (tr *treeReader) blob(ctx context.Context, id resticfmt.ID) ([]byte, error) {
	var loc *blobLoc
	for _, l := range tr.view.locations(id) {
		if tr.has(tr.view.packNames[l.pack]) {
			loc = &l
			break
		}
	}
	if loc == nil {
		return nil, &MissingBlobError{Blob: id.String()}
	}
	pack := tr.view.packNames[loc.pack]
	var raw []byte
	if data, ok := tr.packs[loc.pack]; ok && int64(loc.offset)+int64(loc.length) <= int64(len(data)) {
		raw = data[loc.offset : loc.offset+loc.length]
	} else if size := tr.sizes[pack]; size > 0 && size <= wholePackMax {
		data, err := readRetry(ctx, tr.store, packObject(pack))
		if err != nil {
			return nil, err
		}
		if int64(loc.offset)+int64(loc.length) > int64(len(data)) {
			return nil, fmt.Errorf("%s: blob %s lies beyond the end of the pack", packObject(pack), id)
		}
		tr.keep(loc.pack, data)
		raw = data[loc.offset : loc.offset+loc.length]
	} else {
		rc, err := drc.GetRange(ctx, tr.store, packObject(pack), int64(loc.offset), int64(loc.length))
		if err != nil {
			return nil, err
		}
		raw, err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	return openBlob(tr.key, packObject(pack), id, *loc, raw)
}

func (tr *treeReader) keep(pack int32, data []byte) {
	if tr.packs == nil {
		tr.packs = map[int32][]byte{}
	}
	tr.packs[pack] = data
	tr.packOrder = append(tr.packOrder, pack)
	tr.cached += int64(len(data))
	for tr.cached > treeCacheBytes && len(tr.packOrder) > 1 {
		old := tr.packOrder[0]
		tr.packOrder = tr.packOrder[1:]
		tr.cached -= int64(len(tr.packs[old]))
		delete(tr.packs, old)
	}
}

// MissingBlobError is a blob a snapshot needs that no available pack file holds.
type MissingBlobError struct{ Blob string }

func (e *MissingBlobError) Error() string {
	return fmt.Sprintf("blob %s is in no pack file that is there", e.Blob[:12])
}

// walk adds to need every blob the trees below roots need (the trees themselves and
// every file's content), reading each tree once.
func (tr *treeReader) walk(ctx context.Context, roots []resticfmt.ID, need map[resticfmt.ID]struct{}) error {
	queue := append([]resticfmt.ID(nil), roots...)
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		id := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if _, seen := need[id]; seen {
			continue
		}
		tree, err := readTree(ctx, tr.blob, id)
		if err != nil {
			return err
		}
		need[id] = struct{}{}
		for _, n := range tree.Nodes {
			for _, b := range n.Content {
				need[b] = struct{}{}
			}
			if n.Subtree != nil {
				queue = append(queue, *n.Subtree)
			}
		}
	}
	return nil
}

// readTree reads the tree blob id with blob and decodes it.
func readTree(ctx context.Context, blob func(context.Context, resticfmt.ID) ([]byte, error), id resticfmt.ID) (*resticfmt.Tree, error) {
	plain, err := blob(ctx, id)
	if err == nil {
		var tree *resticfmt.Tree
		if tree, err = resticfmt.ParseTree(plain); err == nil {
			return tree, nil
		}
	}
	return nil, fmt.Errorf("tree %s: %w", id.String()[:12], err)
}

// readSnapshot reads and decodes a snapshot file.
func readSnapshot(ctx context.Context, st drc.Store, key *resticfmt.Key, id string) (*resticfmt.Snapshot, error) {
	data, err := readVerified(ctx, st, "snapshots/"+id)
	if err != nil {
		return nil, err
	}
	plain, err := key.DecryptFile(data)
	if err != nil {
		return nil, fmt.Errorf("snapshots/%s: %w", id, err)
	}
	s, err := resticfmt.ParseSnapshot(plain)
	if err != nil {
		return nil, fmt.Errorf("snapshots/%s: %w", id, err)
	}
	return s, nil
}

// listing is the objects of a repository that replication looks at, by kind.
type listing struct {
	snapshots, index, data map[string]int64 // name without the folder -> size
}

// listRepo lists snapshots/, then index/, then data/: in the reverse of the order
// restic writes them, so that everything a listed snapshot file needs was written
// before it was listed.
func listRepo(ctx context.Context, st drc.Store) (*listing, error) {
	l := &listing{snapshots: map[string]int64{}, index: map[string]int64{}, data: map[string]int64{}}
	for _, part := range []struct {
		prefix string
		into   map[string]int64
	}{{"snapshots/", l.snapshots}, {"index/", l.index}, {"data/", l.data}} {
		err := st.List(ctx, part.prefix, func(o drc.ObjectInfo) error {
			base := o.Name[strings.LastIndexByte(o.Name, '/')+1:]
			if _, err := resticfmt.ParseID(base); err != nil {
				return nil // not restic's (a stray file): never copied, never deleted
			}
			part.into[base] = o.Size
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

// objectName is the object name of a listed file of a kind.
func objectName(kind, id string) string {
	if kind == "data" {
		return packObject(id)
	}
	return kind + "/" + id
}

func (l *listing) kind(kind string) map[string]int64 {
	switch kind {
	case "snapshots":
		return l.snapshots
	case "index":
		return l.index
	}
	return l.data
}

func (l *listing) has(obj string) bool {
	kind, id := splitObject(obj)
	_, ok := l.kind(kind)[id]
	return ok
}

// splitObject splits "data/ab/ab12..." into ("data", "ab12...").
func splitObject(obj string) (kind, id string) {
	kind, _, _ = strings.Cut(obj, "/")
	return kind, obj[strings.LastIndexByte(obj, '/')+1:]
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// forEach runs fn for every item with at most workers at once; it returns the first
// error, after letting the running calls end.
func forEach[T any](ctx context.Context, workers int, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ch := make(chan T)
	var wg sync.WaitGroup
	for range max(1, min(workers, len(items))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				if err := fn(ctx, it); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case ch <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// snapshotInfo turns a decoded snapshot file into the Snapshot that `restic snapshots`
// would list.
func snapshotInfo(id string, s *resticfmt.Snapshot) drc.Snapshot {
	out := drc.Snapshot{ID: id, ShortID: id[:8], Time: s.Time, Paths: s.Paths, Hostname: s.Hostname, Tags: s.Tags}
	if len(s.Summary) > 0 {
		var sum struct {
			TotalBytesProcessed uint64 `json:"total_bytes_processed"`
			DataAdded           uint64 `json:"data_added"`
			DataAddedPacked     uint64 `json:"data_added_packed"`
		}
		if json.Unmarshal(s.Summary, &sum) == nil {
			out.Summary = &struct {
				TotalBytesProcessed uint64 `json:"total_bytes_processed"`
				DataAdded           uint64 `json:"data_added"`
				DataAddedPacked     uint64 `json:"data_added_packed"`
			}{sum.TotalBytesProcessed, sum.DataAdded, sum.DataAddedPacked}
		}
	}
	return out
}

// ReadSnapshots reads snapshot files of a repository directly (not through restic):
// what replication uses to learn which target a snapshot it found at a DRC belongs to.
func (c *Contents) ReadSnapshots(ctx context.Context, r *drc.Repo, ids []string) ([]drc.Snapshot, error) {
	key, err := c.MasterKey(ctx, r)
	if err != nil {
		return nil, err
	}
	st := r.Watched("read")
	out := make([]drc.Snapshot, 0, len(ids))
	for _, id := range ids {
		s, err := readSnapshot(ctx, st, key, id)
		if err != nil {
			return out, fmt.Errorf("drc %q: %w", r.DRC, err)
		}
		out = append(out, snapshotInfo(id, s))
	}
	return out, nil
}

// blobsNeeded loads r's index (the files l lists) and walks the trees of the snapshots
// ids at r: it returns the blobs they need, and the index view that places each blob in
// its packs.
func (c *Contents) blobsNeeded(ctx context.Context, r *drc.Repo, l *listing, key *resticfmt.Key, ids []string) (map[resticfmt.ID]struct{}, *indexView, error) {
	st := r.Watched("read")
	idx := sortedKeys(l.index)
	if err := c.loadIndexes(ctx, key, idx, func(string) drc.Store { return st }); err != nil {
		return nil, nil, fmt.Errorf("drc %q: %w", r.DRC, err)
	}
	view := c.view(idx)
	tr := &treeReader{key: key, view: view, store: st, has: hasIn(l.data), sizes: l.data}
	roots := make([]resticfmt.ID, 0, len(ids))
	for _, id := range ids {
		s, err := readSnapshot(ctx, st, key, id)
		if err != nil {
			return nil, nil, fmt.Errorf("drc %q: %w", r.DRC, err)
		}
		roots = append(roots, *s.Tree)
	}
	need := map[resticfmt.ID]struct{}{}
	if err := tr.walk(ctx, roots, need); err != nil {
		return nil, nil, fmt.Errorf("drc %q: %w", r.DRC, err)
	}
	return need, view, nil
}

// NeededPacks returns the pack files (data/xx/<id>) that hold blobs the snapshots at
// any of repos need: every pack holding such a blob, at each DRC. An error (a DRC that
// cannot be listed, a tree that cannot be read) returns no answer: what a snapshot
// needs must never be guessed.
func (c *Contents) NeededPacks(ctx context.Context, repos ...*drc.Repo) (map[string]bool, error) {
	out := map[string]bool{}
	for _, r := range repos {
		l, err := listRepo(ctx, r.Store)
		if err != nil {
			return nil, fmt.Errorf("drc %q: %w", r.DRC, err)
		}
		if len(l.snapshots) == 0 {
			continue
		}
		key, err := c.MasterKey(ctx, repos...)
		if err != nil {
			return nil, err
		}
		need, view, err := c.blobsNeeded(ctx, r, l, key, sortedKeys(l.snapshots))
		if err != nil {
			return nil, err
		}
		for b := range need {
			for _, loc := range view.locations(b) {
				out[packObject(view.packNames[loc.pack])] = true
			}
		}
	}
	return out, nil
}

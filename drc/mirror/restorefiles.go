package mirror

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/resticfmt"
)

// RestoreFiles writes the files of the snapshots ids of repository r under dir, each
// snapshot's tree at dir, in the order given (a file of a later snapshot replaces the
// same path of an earlier one), and returns how many files it wrote.
//
// It is how a point-in-time restore brings back the log batches after a base (WAL
// segments, binlog files: a few files per snapshot, hundreds to thousands of snapshots
// a week): one `restic restore` per batch costs a process, a key derivation (restic's
// scrypt: about 0.5 s of CPU) and an index load each, about a second a batch, so that
// the restore of a week of one-minute batches would spend hours before the server even
// starts. Here the master key (c's, derived once for the daemon's life) and the index
// files (c's, parsed once and kept) serve all of them, and the files' blobs are
// fetched in parallel.
// (A replication pass that forgets index files meanwhile, after a prune, makes a blob
// unknown here: the call fails and the caller falls back.)
//
// Every object read is checked as restic checks it: an index or snapshot file against
// its name, every blob (trees too) against its id after decryption. Only directories
// and regular files are restored (what a log batch holds); any other entry, a blob the
// index does not know, or a damaged one fails the call, naming it, and the caller may
// fall back to restic. Files are written 0600, folders 0700: the caller gives them to
// whoever reads them.
func (c *Contents) RestoreFiles(ctx context.Context, r *drc.Repo, ids []string, dir string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	key, err := c.MasterKey(ctx, r)
	if err != nil {
		return 0, err
	}
	// A read that makes no progress for the stall timeout fails with a
	// *drc.StallError naming the object, as a stalled restic's would.
	st := r.Watched("restore")
	var names []string
	if err := r.Store.List(ctx, "index/", func(o drc.ObjectInfo) error {
		names = append(names, strings.TrimPrefix(o.Name, "index/"))
		return nil
	}); err != nil {
		return 0, fmt.Errorf("drc %q: listing the index: %w", r.DRC, err)
	}
	if err := c.loadIndexes(ctx, key, names, func(string) drc.Store { return st }); err != nil {
		return 0, fmt.Errorf("drc %q: %w", r.DRC, err)
	}
	view := c.view(names)
	br := &blobReader{key: key, view: view, store: st}

	// Every file of every snapshot, the last one of each path winning.
	files := map[string][]resticfmt.ID{}
	for _, id := range ids {
		snap, err := readSnapshot(ctx, st, key, id)
		if err != nil {
			return 0, fmt.Errorf("drc %q: %w", r.DRC, err)
		}
		if snap.Tree == nil {
			return 0, fmt.Errorf("drc %q: snapshot %.8s has no tree", r.DRC, id)
		}
		if err := br.files(ctx, *snap.Tree, dir, files); err != nil {
			return 0, fmt.Errorf("drc %q: snapshot %.8s: %w", r.DRC, id, err)
		}
	}
	paths := sortedKeys(files)
	err = forEach(ctx, 8, paths, func(ctx context.Context, path string) error {
		if err := br.writeFile(ctx, path, files[path]); err != nil {
			return fmt.Errorf("drc %q: %s: %w", r.DRC, path, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(paths), nil
}

// blobReader reads single blobs with ranged reads of their pack files; it is safe for
// concurrent use.
type blobReader struct {
	key   *resticfmt.Key
	view  *indexView
	store drc.Store
}

// blob reads, decrypts and checks one blob.
func (br *blobReader) blob(ctx context.Context, id resticfmt.ID) ([]byte, error) {
	locs := br.view.locations(id)
	if len(locs) == 0 {
		return nil, &MissingBlobError{Blob: id.String()}
	}
	var err error
	for _, loc := range locs { // a blob stored twice: the second copy if the first fails
		var plain []byte
		if plain, err = br.at(ctx, id, loc); err == nil {
			return plain, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, err
}

func (br *blobReader) at(ctx context.Context, id resticfmt.ID, loc blobLoc) ([]byte, error) {
	pack := packObject(br.view.packNames[loc.pack])
	rc, err := drc.GetRange(ctx, br.store, pack, int64(loc.offset), int64(loc.length))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if len(raw) != int(loc.length) {
		return nil, fmt.Errorf("%s: blob %s: %d bytes read, the index says %d", pack, id, len(raw), loc.length)
	}
	return openBlob(br.key, pack, id, loc, raw)
}

// openBlob decrypts a blob read from pack and checks it against its id.
func openBlob(key *resticfmt.Key, pack string, id resticfmt.ID, loc blobLoc, raw []byte) ([]byte, error) {
	plain, err := key.DecryptBlob(raw, uint(loc.ulen))
	if err != nil {
		return nil, fmt.Errorf("%s: blob %s: %w", pack, id, err)
	}
	if resticfmt.Hash(plain) != id {
		return nil, fmt.Errorf("%s: blob %s: content does not match its id", pack, id)
	}
	return plain, nil
}

// files adds the regular files of the tree id, as paths under dir, to out.
func (br *blobReader) files(ctx context.Context, id resticfmt.ID, dir string, out map[string][]resticfmt.ID) error {
	tree, err := readTree(ctx, br.blob, id)
	if err != nil {
		return err
	}
	for _, n := range tree.Nodes {
		if n.Name == "" || n.Name == "." || n.Name == ".." || strings.ContainsAny(n.Name, "/\x00") {
			return fmt.Errorf("tree %s: entry %q cannot be restored under a folder", id.String()[:12], n.Name)
		}
		path := filepath.Join(dir, n.Name)
		switch {
		case n.Type == "dir" && n.Subtree != nil:
			if err := br.files(ctx, *n.Subtree, path, out); err != nil {
				return err
			}
		case n.Type == "file":
			out[path] = n.Content
		default:
			return fmt.Errorf("tree %s: %s is a %s: only folders and regular files are restored this way", id.String()[:12], n.Name, n.Type)
		}
	}
	return nil
}

// writeFile writes the blobs content, in order, to path (replacing a file there).
func (br *blobReader) writeFile(ctx context.Context, path string, content []resticfmt.ID) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	for _, id := range content {
		var plain []byte
		if plain, err = br.blob(ctx, id); err != nil {
			break
		}
		if _, err = f.Write(plain); err != nil {
			break
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // never half a file where a whole one is expected
	}
	return err
}

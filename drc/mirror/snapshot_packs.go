package mirror

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/cadang/cadang/drc"
)

// SnapshotPacks returns the pack files (data/xx/<id>, with their sizes) that hold the
// blobs one snapshot of r needs, read from r's own index and trees. restic's check
// cannot be limited to one snapshot's packs; this is what a drill reads back to prove
// that snapshot's data is whole at one DRC. A blob the index does not place in a pack
// that r has is an error naming it.
func (c *Contents) SnapshotPacks(ctx context.Context, r *drc.Repo, snapshotID string) (map[string]int64, error) {
	l, err := listRepo(ctx, r.Store)
	if err != nil {
		return nil, fmt.Errorf("drc %q: %w", r.DRC, err)
	}
	if _, ok := l.snapshots[snapshotID]; !ok {
		return nil, fmt.Errorf("drc %q: snapshot %.8s is not in the repository", r.DRC, snapshotID)
	}
	key, err := c.MasterKey(ctx, r)
	if err != nil {
		return nil, err
	}
	need, view, err := c.blobsNeeded(ctx, r, l, key, []string{snapshotID})
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for b := range need {
		found := false
		for _, loc := range view.locations(b) {
			name := view.packNames[loc.pack]
			if size, ok := l.data[name]; ok {
				out[packObject(name)] = size
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("drc %q: blob %s of snapshot %.8s is in no pack file there", r.DRC, b.String()[:12], snapshotID)
		}
	}
	return out, nil
}

// VerifyObjects reads every named object of st (workers at a time) and checks that
// its content hashes (SHA-256) to its name, as restic names every object but config.
// It returns the bytes read, and the first damaged or unreadable object as an error
// (a *HashMismatchError for a damaged one).
func VerifyObjects(ctx context.Context, st drc.Store, names []string, workers int, read *atomic.Int64) error {
	return forEach(ctx, workers, names, func(ctx context.Context, name string) error {
		rc, err := st.Get(ctx, name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer rc.Close()
		h := sha256.New()
		n, err := io.Copy(h, rc)
		if read != nil {
			read.Add(n)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		got := hex.EncodeToString(h.Sum(nil))
		if got != name[strings.LastIndexByte(name, '/')+1:] {
			return &HashMismatchError{Object: name, Got: got}
		}
		return nil
	})
}

package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Snapshot states. Only a good snapshot may be restored without a warning or counted
// by retention; the others are kept for inspection.
const (
	SnapshotGood    = "good"
	SnapshotPartial = "partial" // some source files could not be read
	SnapshotBad     = "bad"     // written by a run that failed afterwards

	// StatusTag is the restic tag key (status=partial, status=bad) that marks a snapshot
	// that is not good in its repository, so that a catalog rebuilt from the
	// repositories knows it.
	StatusTag = "status"
)

// Snapshot is what cadang knows of one restic snapshot. The same snapshot (same id)
// lives at every DRC it was replicated to: Sites is the ledger of when it became
// restorable at each.
type Snapshot struct {
	ID     string               `json:"id"`
	Target string               `json:"target"`
	Agency string               `json:"agency"`
	Kind   string               `json:"kind"`
	Time   time.Time            `json:"time"`
	RunID  uint64               `json:"run"`
	Status string               `json:"status"`
	DRC    string               `json:"drc"` // where the backup wrote it
	Sites  map[string]time.Time `json:"sites"`
	Bytes  uint64               `json:"bytes"` // size of the source
	// Damaged names the DRCs where the snapshot cannot be restored whole: it needs an
	// object no DRC holds a good copy of (damage.go). Restores of "latest" pass over it
	// there, and it does not count for the freshness of its target there.
	Damaged map[string]string `json:"damaged,omitempty"`
}

// PutSnapshot stores or replaces a snapshot record.
func (c *Catalog) PutSnapshot(s *Snapshot) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		if err := put(tx.Bucket(bucketSnapshots), []byte(s.ID), s); err != nil {
			return err
		}
		b, err := tx.Bucket(bucketTargetSnp).CreateBucketIfNotExists([]byte(s.Target))
		if err != nil {
			return err
		}
		return b.Put([]byte(s.ID), nil)
	})
}

// DeleteSnapshot forgets a snapshot record.
func (c *Catalog) DeleteSnapshot(id string) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		snaps := tx.Bucket(bucketSnapshots)
		v := snaps.Get([]byte(id))
		if v == nil {
			return nil
		}
		var s Snapshot
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		if b := tx.Bucket(bucketTargetSnp).Bucket([]byte(s.Target)); b != nil {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return snaps.Delete([]byte(id))
	})
}

// Snapshot returns the snapshot whose id is id or starts with id (at least 8
// characters, as restic's short ids); a prefix that matches several is an error.
func (c *Catalog) Snapshot(id string) (*Snapshot, error) {
	var s Snapshot
	err := c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketSnapshots).Cursor()
		k, v := cur.Seek([]byte(id))
		if k == nil || !bytes.HasPrefix(k, []byte(id)) {
			return fmt.Errorf("snapshot %s: %w", id, ErrNotFound)
		}
		if len(k) != len(id) {
			if len(id) < 8 {
				return fmt.Errorf("snapshot %s: give at least 8 characters of the id", id)
			}
			if k2, _ := cur.Next(); k2 != nil && bytes.HasPrefix(k2, []byte(id)) {
				return fmt.Errorf("snapshot %s: the prefix matches several snapshots", id)
			}
		}
		return json.Unmarshal(v, &s)
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// Snapshots returns a target's snapshots, oldest first.
func (c *Catalog) Snapshots(target string) ([]Snapshot, error) {
	var out []Snapshot
	err := c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTargetSnp).Bucket([]byte(target))
		if b == nil {
			return nil
		}
		snaps := tx.Bucket(bucketSnapshots)
		return b.ForEach(func(k, _ []byte) error {
			var s Snapshot
			if err := json.Unmarshal(snaps.Get(k), &s); err != nil {
				return fmt.Errorf("snapshot %s: %w", k, err)
			}
			out = append(out, s)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, err
}

// MergeSnapshot records s in one transaction with what the catalog already knows of
// it: the DRCs where it is restorable are the union of both (the earlier time where
// both have one). With authoritative (the backup run that wrote it), s's own fields
// replace the record's; otherwise (a snapshot learned from a DRC's repository) the
// record's are kept. A backup and a replication pass that finds the new snapshot
// first can so record it in either order without losing a DRC or the run.
func (c *Catalog) MergeSnapshot(s *Snapshot, authoritative bool) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		snaps := tx.Bucket(bucketSnapshots)
		rec := *s
		if v := snaps.Get([]byte(s.ID)); v != nil {
			var old Snapshot
			if err := json.Unmarshal(v, &old); err != nil {
				return err
			}
			if !authoritative {
				rec = old
			}
			sites := map[string]time.Time{}
			for _, m := range []map[string]time.Time{old.Sites, s.Sites} {
				for d, at := range m {
					if cur, ok := sites[d]; !ok || at.Before(cur) {
						sites[d] = at
					}
				}
			}
			rec.Sites = sites
		}
		if err := put(snaps, []byte(rec.ID), &rec); err != nil {
			return err
		}
		b, err := tx.Bucket(bucketTargetSnp).CreateBucketIfNotExists([]byte(rec.Target))
		if err != nil {
			return err
		}
		return b.Put([]byte(rec.ID), nil)
	})
}

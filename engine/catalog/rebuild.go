package catalog

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// RecordRebuilt records snapshots learned from a DRC's repository by `cadang state
// rebuild`, in one transaction: each is merged with what the catalog knows of it as
// MergeSnapshot does for a snapshot found at a DRC (the record's fields are kept, the
// DRCs holding it are the union). The run numbers the repository's tags carry are
// then taken: the catalog's next run is numbered after the highest of them, so that a
// new run never shares its number with the run that wrote an older snapshot.
func (c *Catalog) RecordRebuilt(snaps []Snapshot) error {
	var last uint64
	for i := range snaps {
		if snaps[i].ID == "" || snaps[i].Target == "" {
			return fmt.Errorf("snapshot %q of target %q: a rebuilt snapshot needs an id and a target", snaps[i].ID, snaps[i].Target)
		}
		last = max(last, snaps[i].RunID)
	}
	for i := range snaps {
		if err := c.MergeSnapshot(&snaps[i], false); err != nil {
			return fmt.Errorf("snapshot %s: %w", snaps[i].ID, err)
		}
	}
	return c.ReserveRuns(last)
}

// ReserveRuns makes the catalog number its next run after last (it never lowers the
// numbering).
func (c *Catalog) ReserveRuns(last uint64) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRuns)
		if b.Sequence() >= last {
			return nil
		}
		return b.SetSequence(last)
	})
}

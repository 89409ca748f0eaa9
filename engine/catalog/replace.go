package catalog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ReplaceFrom replaces the whole content of the catalog with that of the catalog file
// at path (a state bundle's, opened by a standby), in one write transaction: a reader
// sees the old catalog or the new one, never a mix, and the daemon keeps its open file
// (no reopening behind the back of the code that holds it). The file must be of a
// schema this cadang knows; an older one is migrated after the copy.
func (c *Catalog) ReplaceFrom(path string) error {
	src, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("catalog %s: %w", path, err)
	}
	defer src.Close()
	err = src.View(func(stx *bolt.Tx) error {
		meta := stx.Bucket(bucketMeta)
		if meta == nil || meta.Get(keySchema) == nil {
			return fmt.Errorf("catalog %s has no schema version: not a cadang catalog", path)
		}
		if have := int(binary.BigEndian.Uint64(meta.Get(keySchema))); have > SchemaVersion() {
			return fmt.Errorf("catalog %s: schema version %d is newer than this cadang knows (%d): run a newer cadang", path, have, SchemaVersion())
		}
		return c.db.Update(func(dtx *bolt.Tx) error {
			var names [][]byte
			if err := dtx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				names = append(names, bytes.Clone(name))
				return nil
			}); err != nil {
				return err
			}
			for _, name := range names {
				if err := dtx.DeleteBucket(name); err != nil {
					return err
				}
			}
			return stx.ForEach(func(name []byte, b *bolt.Bucket) error {
				nb, err := dtx.CreateBucket(name)
				if err != nil {
					return err
				}
				return copyBucket(nb, b)
			})
		})
	})
	if err != nil {
		return err
	}
	return c.migrate()
}

// copyBucket copies src's keys, nested buckets and sequence into the empty dst. The
// values stay valid: src's read transaction outlives dst's write transaction.
func copyBucket(dst, src *bolt.Bucket) error {
	dst.FillPercent = 0.9
	if err := dst.SetSequence(src.Sequence()); err != nil {
		return err
	}
	return src.ForEach(func(k, v []byte) error {
		if v != nil {
			return dst.Put(k, v)
		}
		nb, err := dst.CreateBucket(k)
		if err != nil {
			return err
		}
		return copyBucket(nb, src.Bucket(k))
	})
}

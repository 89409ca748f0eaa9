package catalog

import (
	bolt "go.etcd.io/bbolt"
)

// The conditions the daemon's notifier has told as begun and not yet as over (schema
// 10): kept so that a restart neither tells them again nor forgets to tell their end.
// The catalog keeps each as the notifier wrote it (engine/notify.Event, JSON).
var bucketRaised = []byte("notify_raised") // subject -> event (JSON)

func migrateRaised(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketRaised)
	return err
}

// PutRaised records that the condition of subject is on, with its event.
func (c *Catalog) PutRaised(subject string, event []byte) error {
	return c.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRaised).Put([]byte(subject), event) })
}

// DeleteRaised records that the condition of subject is over.
func (c *Catalog) DeleteRaised(subject string) error {
	return c.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRaised).Delete([]byte(subject)) })
}

// Raised returns the events of the conditions on, by subject.
func (c *Catalog) Raised() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRaised).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	return out, err
}

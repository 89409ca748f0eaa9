package catalog

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/cadang/cadang/engine/redact"
)

// migrateRedactDestinations (schema 4) redacts the destinations of the restore runs
// recorded before cadang redacted a password given in a URL's query
// (postgres://u@db/x?password=...): only the user info's password was redacted then.
func migrateRedactDestinations(tx *bolt.Tx) error {
	runs := tx.Bucket(bucketRuns)
	type change struct {
		key  []byte
		data []byte
	}
	var changes []change
	err := runs.ForEach(func(k, v []byte) error {
		var r Run
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("run %x: %w", k, err)
		}
		if r.Destination == "" {
			return nil
		}
		clean := redact.URL(r.Destination)
		if clean == r.Destination {
			return nil
		}
		secrets := redact.Secrets(r.Destination)
		r.Destination = clean
		r.Error = redact.Scrub(r.Error, secrets)
		for i := range r.Notes {
			r.Notes[i] = redact.Scrub(r.Notes[i], secrets)
		}
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		changes = append(changes, change{append([]byte(nil), k...), data})
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range changes {
		if err := runs.Put(c.key, c.data); err != nil {
			return err
		}
	}
	return nil
}

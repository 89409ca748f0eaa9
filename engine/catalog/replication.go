package catalog

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// What replication between the DRCs remembers (schema version 3). Per pair (a
// secondary DRC and an agency): the snapshots ever seen at each DRC, the objects
// waiting for their deletion grace to end, and the state of the last pass. Alarms are
// global. The ledger itself (when each snapshot became restorable at each DRC) is
// Snapshot.Sites.
var (
	bucketReplSeen    = []byte("repl_seen")    // drc \x00 agency -> bucket: snapshot id -> first seen (unix ns)
	bucketReplPending = []byte("repl_pending") // drc \x00 agency -> bucket: object -> first seen missing at the primary
	bucketReplState   = []byte("repl_state")   // drc \x00 agency -> ReplState
	bucketAlarms      = []byte("alarms")       // id -> Alarm
)

func migrateReplication(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketReplSeen, bucketReplPending, bucketReplState, bucketAlarms} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

func pairKey(drc, agency string) []byte { return []byte(drc + "\x00" + agency) }

func timeBytes(t time.Time) []byte { return u64(uint64(t.UnixNano())) }

func bytesTime(b []byte) time.Time {
	if len(b) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
}

// SeenSnapshots returns the snapshots of agency ever seen at drc, with when first.
func (c *Catalog) SeenSnapshots(drc, agency string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReplSeen).Bucket(pairKey(drc, agency))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = bytesTime(v)
			return nil
		})
	})
	return out, err
}

// MarkSeen records that the snapshots are at drc (the first time is kept).
func (c *Catalog) MarkSeen(drc, agency string, ids []string, at time.Time) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketReplSeen).CreateBucketIfNotExists(pairKey(drc, agency))
		if err != nil {
			return err
		}
		for _, id := range ids {
			if b.Get([]byte(id)) == nil {
				if err := b.Put([]byte(id), timeBytes(at)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// PendingDeletions returns the objects of agency at the secondary drc that the primary
// no longer has, with when that was first seen.
func (c *Catalog) PendingDeletions(drc, agency string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReplPending).Bucket(pairKey(drc, agency))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = bytesTime(v)
			return nil
		})
	})
	return out, err
}

// SetPendingDeletions replaces the pending deletions of a pair.
func (c *Catalog) SetPendingDeletions(drc, agency string, pending map[string]time.Time) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketReplPending)
		if root.Bucket(pairKey(drc, agency)) != nil {
			if err := root.DeleteBucket(pairKey(drc, agency)); err != nil {
				return err
			}
		}
		if len(pending) == 0 {
			return nil
		}
		b, err := root.CreateBucket(pairKey(drc, agency))
		if err != nil {
			return err
		}
		for obj, t := range pending {
			if err := b.Put([]byte(obj), timeBytes(t)); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReplState is the state of the last replication pass of a pair.
type ReplState struct {
	DRC              string    `json:"drc"`
	Agency           string    `json:"agency"`
	LastPass         time.Time `json:"last_pass,omitzero"`
	LastSuccess      time.Time `json:"last_success,omitzero"`
	LastError        string    `json:"last_error,omitempty"`
	LastRun          uint64    `json:"last_run,omitempty"`
	PendingObjects   int       `json:"pending_objects"`
	PendingBytes     int64     `json:"pending_bytes"`
	PendingDeletions int       `json:"pending_deletions"`
	NextDeletion     time.Time `json:"next_deletion,omitzero"`
	HeldBack         int       `json:"held_back,omitempty"`
}

// PutReplState stores the state of a pair.
func (c *Catalog) PutReplState(s *ReplState) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		return put(tx.Bucket(bucketReplState), pairKey(s.DRC, s.Agency), s)
	})
}

// ReplStates returns the state of every pair, by DRC then agency.
func (c *Catalog) ReplStates() ([]ReplState, error) {
	var out []ReplState
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketReplState).ForEach(func(_, v []byte) error {
			var s ReplState
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			out = append(out, s)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].DRC != out[j].DRC {
			return out[i].DRC < out[j].DRC
		}
		return out[i].Agency < out[j].Agency
	})
	return out, err
}

// Alarm is damage replication found (a hash mismatch, a different repository, a blob
// a snapshot needs that is nowhere): raised once, counted while it repeats, resolved
// when a later pass no longer finds it.
type Alarm struct {
	ID       uint64    `json:"id"`
	Kind     string    `json:"kind"`
	DRC      string    `json:"drc"`
	Agency   string    `json:"agency"`
	Object   string    `json:"object,omitempty"`
	Message  string    `json:"message"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Count    int       `json:"count"`
	Resolved time.Time `json:"resolved,omitzero"`
}

// MarshalJSON adds "time" (when it was last raised; every list of cadang carries it)
// and "status" (active or resolved).
func (a Alarm) MarshalJSON() ([]byte, error) {
	type plain Alarm
	status := "active"
	if !a.Resolved.IsZero() {
		status = "resolved"
	}
	return json.Marshal(struct {
		plain
		Time   time.Time `json:"time"`
		Status string    `json:"status"`
	}{plain(a), a.Last, status})
}

// RaiseAlarm records an alarm; the same active alarm (kind, DRC, agency, object) is
// counted again rather than repeated. It reports whether the alarm is new.
func (c *Catalog) RaiseAlarm(a Alarm, at time.Time) (bool, error) {
	isNew := false
	err := c.db.Update(func(tx *bolt.Tx) (err error) {
		isNew, err = raiseAlarm(tx, a, at)
		return err
	})
	return isNew, err
}

func raiseAlarm(tx *bolt.Tx, a Alarm, at time.Time) (bool, error) {
	b := tx.Bucket(bucketAlarms)
	var found *Alarm
	err := b.ForEach(func(_, v []byte) error {
		var x Alarm
		if err := json.Unmarshal(v, &x); err != nil {
			return err
		}
		if x.Resolved.IsZero() && x.Kind == a.Kind && x.DRC == a.DRC && x.Agency == a.Agency && x.Object == a.Object {
			found = &x
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	isNew := false
	if found == nil {
		id, err := b.NextSequence()
		if err != nil {
			return false, err
		}
		a.ID, a.First, a.Count = id, at, 0
		found, isNew = &a, true
	}
	found.Message, found.Last = a.Message, at
	found.Count++
	return isNew, put(b, u64(found.ID), found)
}

// ResolveAlarms marks resolved the active alarms of agency at the given DRCs for which
// still returns false, and returns them.
func (c *Catalog) ResolveAlarms(agency string, drcs []string, still func(Alarm) bool, at time.Time) ([]Alarm, error) {
	var out []Alarm
	in := map[string]bool{}
	for _, d := range drcs {
		in[d] = true
	}
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAlarms)
		var changed []Alarm
		err := b.ForEach(func(_, v []byte) error {
			var x Alarm
			if err := json.Unmarshal(v, &x); err != nil {
				return err
			}
			if x.Resolved.IsZero() && x.Agency == agency && in[x.DRC] && !still(x) {
				x.Resolved = at
				changed = append(changed, x)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range changed {
			if err := put(b, u64(changed[i].ID), &changed[i]); err != nil {
				return err
			}
		}
		out = changed
		return nil
	})
	return out, err
}

// Alarms returns the alarms, newest first; only the active ones unless all.
func (c *Catalog) Alarms(all bool) ([]Alarm, error) {
	var out []Alarm
	err := c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketAlarms).Cursor()
		for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
			var a Alarm
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("alarm %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if all || a.Resolved.IsZero() {
				out = append(out, a)
			}
		}
		return nil
	})
	return out, err
}

// UpdateSnapshot changes a snapshot record in one transaction. A record whose Sites
// ends empty is deleted: the snapshot is at no DRC any more.
func (c *Catalog) UpdateSnapshot(id string, fn func(s *Snapshot) error) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		snaps := tx.Bucket(bucketSnapshots)
		v := snaps.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("snapshot %s: %w", id, ErrNotFound)
		}
		var s Snapshot
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		if err := fn(&s); err != nil {
			return err
		}
		if len(s.Sites) == 0 {
			if b := tx.Bucket(bucketTargetSnp).Bucket([]byte(s.Target)); b != nil {
				if err := b.Delete([]byte(id)); err != nil {
					return err
				}
			}
			return snaps.Delete([]byte(id))
		}
		return put(snaps, []byte(id), &s)
	})
}

// AgencySnapshots returns every snapshot record of an agency, oldest first.
func (c *Catalog) AgencySnapshots(agency string) ([]Snapshot, error) {
	var out []Snapshot
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapshots).ForEach(func(k, v []byte) error {
			var s Snapshot
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("snapshot %s: %w", k, err)
			}
			if s.Agency == agency {
				out = append(out, s)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, err
}
